namespace Cohort.Dlm;

/// <summary>Deliberately broken behaviours, for proving that the simulator's checker catches them.</summary>
public enum DlmMutant
{
    /// <summary>The correct core.</summary>
    None = 0,

    /// <summary>The convert queue is left out of the compatibility check of new requests and conversions, so EX is
    /// granted beside a PR holder that is converting (<c>ignore-convert-queue</c>).</summary>
    IgnoreConvertQueue = 1,

    /// <summary>A member waits at no barrier from the stop on, so one node remasters while another still grants
    /// (<c>skip-stop-barrier</c>). Every barrier is all-to-all and implies the earlier ones, so skipping the stop's
    /// alone would change nothing.</summary>
    SkipStopBarrier = 2,

    /// <summary>A new master starts a resource's token counter at 1 in the current epoch instead of carrying on
    /// the directory's (<c>token-reset</c>).</summary>
    TokenReset = 3,
}
