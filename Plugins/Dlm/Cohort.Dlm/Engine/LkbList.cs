namespace Cohort.Dlm.Engine;

/// <summary>One queue of a resource, read-only: an intrusive FIFO of <see cref="Lkb"/>s through
/// <see cref="Lkb.Next"/> (no allocation per lock), which <see cref="Rsb.Move"/> changes. A queue is kept as its
/// first lock only: the first lock's <see cref="Lkb.Prev"/> is the last one (as in a circular list), so that
/// appending needs no tail field, and the last lock's <see cref="Lkb.Next"/> is null.</summary>
internal readonly struct LkbList(Lkb? head)
{
    /// <summary>The first lock, or null.</summary>
    public Lkb? Head { get; } = head;

    /// <summary>Whether it is empty.</summary>
    public bool IsEmpty => Head is null;

    /// <summary>Appends <paramref name="lkb"/>, which must be on no queue, to the queue whose first lock is
    /// <paramref name="head"/>.</summary>
    public static void Append(ref Lkb? head, Lkb lkb)
    {
        lkb.Next = null;
        if (head is null)
        {
            lkb.Prev = lkb;
            head = lkb;
            return;
        }

        var tail = head.Prev!;
        tail.Next = lkb;
        lkb.Prev = tail;
        head.Prev = lkb;
    }

    /// <summary>Removes <paramref name="lkb"/> from the queue whose first lock is <paramref name="head"/>, which it
    /// must be on.</summary>
    public static void Unlink(ref Lkb? head, Lkb lkb)
    {
        var prev = lkb.Prev!;
        var next = lkb.Next;
        if (lkb == head)
        {
            head = next;
            if (next is not null)
            {
                next.Prev = prev; // the last lock
            }
        }
        else
        {
            prev.Next = next;
            if (next is not null)
            {
                next.Prev = prev;
            }
            else
            {
                head!.Prev = prev; // it was the last
            }
        }

        lkb.Prev = lkb.Next = null;
    }
}
