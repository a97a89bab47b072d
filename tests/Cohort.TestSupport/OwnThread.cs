namespace Cohort.TestSupport;

/// <summary>Runs code on a thread of its own, not a pool thread — as a transport's reader delivers frames.</summary>
public static class OwnThread
{
    /// <summary>Runs <paramref name="body"/> on a new thread and waits for it, at most a minute.</summary>
    /// <returns>Its result and that thread's managed id.</returns>
    /// <exception cref="TimeoutException">It did not end within a minute.</exception>
    public static (T Result, int Thread) Run<T>(Func<T> body)
    {
        var result = default(T)!;
        var id = 0;
        Exception? failed = null;
        var thread = new Thread(() =>
        {
            id = Environment.CurrentManagedThreadId;
            try
            {
                result = body();
            }
            catch (Exception ex)
            {
                failed = ex;
            }
        });
        thread.Start();
        if (!thread.Join(TimeSpan.FromMinutes(1)))
        {
            throw new TimeoutException("the code on its own thread did not end within a minute");
        }

        return failed is null ? (result, id) : throw new InvalidOperationException("the code on its own thread threw", failed);
    }
}
