namespace Cohort.Fencing;

/// <summary>What a fence device is asked to do, named as the fence-agents protocol names it
/// (<c>action=off</c>, ...).</summary>
public enum FenceAction
{
    /// <summary>Power the target off (or kill it) and keep it off. Must be idempotent: off on a target that is
    /// already off succeeds.</summary>
    Off = 1,

    /// <summary>Power the target on again (never used to fence).</summary>
    On = 2,

    /// <summary>Power the target off, then on again. Succeeds once the target was off; whether it came back is not
    /// part of the result.</summary>
    Reboot = 3,

    /// <summary>Report whether the target is on or off (<see cref="FenceOutcome.Power"/>).</summary>
    Status = 4,

    /// <summary>Check that the device itself works (reachable, credentials accepted); no target.</summary>
    Monitor = 5,
}

/// <summary>How one fence operation ended. Only <see cref="Success"/> counts as fenced: a timeout or an unknown
/// result never does.</summary>
public enum FenceResult
{
    /// <summary>The device did what was asked: for <see cref="FenceAction.Off"/> and <see cref="FenceAction.Reboot"/>,
    /// the target is known to be off (or was off).</summary>
    Success = 1,

    /// <summary>The device answered that it could not do it.</summary>
    Failed = 2,

    /// <summary>The device did not answer within its timeout; the target's state is unknown.</summary>
    Timeout = 3,

    /// <summary>The device answered something that is neither success nor failure (a crash, an exit code outside the
    /// protocol, an operation cut short); the target's state is unknown.</summary>
    Unknown = 4,
}

/// <summary>A target's power state, as <see cref="FenceAction.Status"/> reports it.</summary>
public enum FencePower
{
    /// <summary>Not reported (the action was not <see cref="FenceAction.Status"/>, or the device could not tell).</summary>
    Unknown = 0,

    /// <summary>The target is on (alive).</summary>
    On = 1,

    /// <summary>The target is off (dead).</summary>
    Off = 2,
}

/// <summary>What a fence operation came to.</summary>
/// <param name="Result">How it ended.</param>
/// <param name="Detail">What happened, for the history and the log: the agent's own words where it has any.</param>
/// <param name="Power">For <see cref="FenceAction.Status"/>: the target's power state.</param>
public sealed record FenceOutcome(FenceResult Result, string Detail, FencePower Power = FencePower.Unknown)
{
    /// <summary>A success, with what was done.</summary>
    public static FenceOutcome Succeeded(string detail, FencePower power = FencePower.Unknown) => new(FenceResult.Success, detail, power);

    /// <summary>A failure, with why.</summary>
    public static FenceOutcome Failed(string detail) => new(FenceResult.Failed, detail);
}
