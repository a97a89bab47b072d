using Cohort.Cores;
using Cohort.Locking;

namespace Cohort.Dlm;

/// <summary>The DLM protocol core (being written).</summary>
public sealed class DlmCore : ILockManagerCore
{
    private readonly LockManagerSetup _setup;
    private readonly DlmMutant _mutant;

    /// <summary>Creates a core.</summary>
    public DlmCore(LockManagerSetup setup, DlmMutant mutant = DlmMutant.None)
    {
        _setup = setup;
        _mutant = mutant;
    }

    /// <inheritdoc />
    public DlmCoreStatus Status => new([]);

    /// <inheritdoc />
    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs) => throw new NotImplementedException($"{_setup} {_mutant}");
}
