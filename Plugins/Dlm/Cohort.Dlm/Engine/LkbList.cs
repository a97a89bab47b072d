namespace Cohort.Dlm.Engine;

/// <summary>An intrusive FIFO of <see cref="Lkb"/>s (through <see cref="Lkb.Prev"/> and <see cref="Lkb.Next"/>): no
/// allocation per lock.</summary>
internal struct LkbList
{
    /// <summary>The first lock, or null.</summary>
    public Lkb? Head;

    /// <summary>The last lock, or null.</summary>
    public Lkb? Tail;


    /// <summary>Whether it is empty.</summary>
    public readonly bool IsEmpty => Head is null;

    /// <summary>Appends <paramref name="lkb"/>, which must be on no list.</summary>
    public void AddLast(Lkb lkb)
    {
        lkb.Prev = Tail;
        lkb.Next = null;
        if (Tail is null)
        {
            Head = lkb;
        }
        else
        {
            Tail.Next = lkb;
        }

        Tail = lkb;
    }

    /// <summary>Puts <paramref name="lkb"/>, which must be on no list, first.</summary>
    public void AddFirst(Lkb lkb)
    {
        lkb.Next = Head;
        lkb.Prev = null;
        if (Head is null)
        {
            Tail = lkb;
        }
        else
        {
            Head.Prev = lkb;
        }

        Head = lkb;
    }

    /// <summary>Removes <paramref name="lkb"/>, which must be on this list.</summary>
    public void Remove(Lkb lkb)
    {
        if (lkb.Prev is null)
        {
            Head = lkb.Next;
        }
        else
        {
            lkb.Prev.Next = lkb.Next;
        }

        if (lkb.Next is null)
        {
            Tail = lkb.Prev;
        }
        else
        {
            lkb.Next.Prev = lkb.Prev;
        }

        lkb.Prev = lkb.Next = null;
    }
}
