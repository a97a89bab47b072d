using Cohort.Locking;

namespace Cohort.Host.Admin;

/// <summary>The modes by the names operators type (<c>--mode EX</c>), as Linux's tools print them.</summary>
internal static class LockModeNames
{
    public static IReadOnlyDictionary<string, LockMode> ByName { get; } = new Dictionary<string, LockMode>(StringComparer.OrdinalIgnoreCase)
    {
        ["NL"] = LockMode.Null,
        ["CR"] = LockMode.ConcurrentRead,
        ["CW"] = LockMode.ConcurrentWrite,
        ["PR"] = LockMode.ProtectedRead,
        ["PW"] = LockMode.ProtectedWrite,
        ["EX"] = LockMode.Exclusive,
    };

    /// <summary>The name of <paramref name="mode"/>.</summary>
    public static string Of(LockMode mode) => ByName.First(kv => kv.Value == mode).Key;
}
