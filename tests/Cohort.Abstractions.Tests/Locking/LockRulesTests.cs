using Cohort.Locking;

namespace Cohort.Abstractions.Tests.Locking;

/// <summary>What a lock holds after each way an operation can end (the host's facade and the client library both
/// keep their handles' state by it).</summary>
public sealed class LockRulesTests
{
    private static LockResult Result(LockStatus status, LockMode mode = LockMode.Null, LockResultFlags flags = LockResultFlags.None) =>
        new(status, mode, flags, FencingToken.None);

    [TestCase(DlmOperationKind.Lock, LockStatus.Granted, LockMode.ProtectedRead, LockResultFlags.None, null, LockMode.ProtectedRead)]
    [TestCase(DlmOperationKind.Lock, LockStatus.WouldBlock, LockMode.Null, LockResultFlags.None, null, null)]
    [TestCase(DlmOperationKind.Lock, LockStatus.Cancelled, LockMode.Null, LockResultFlags.None, null, null)]
    [TestCase(DlmOperationKind.Convert, LockStatus.Granted, LockMode.Exclusive, LockResultFlags.None, LockMode.ProtectedRead, LockMode.Exclusive)]
    [TestCase(DlmOperationKind.Convert, LockStatus.Cancelled, LockMode.ProtectedRead, LockResultFlags.None, LockMode.ProtectedRead, LockMode.ProtectedRead)]
    [TestCase(DlmOperationKind.Convert, LockStatus.Deadlock, LockMode.ProtectedRead, LockResultFlags.None, LockMode.ProtectedRead, LockMode.ProtectedRead)]
    [TestCase(DlmOperationKind.Convert, LockStatus.WouldBlock, LockMode.Null, LockResultFlags.Demoted, LockMode.ProtectedRead, LockMode.Null)]
    [TestCase(DlmOperationKind.Unlock, LockStatus.Unlocked, LockMode.Null, LockResultFlags.None, LockMode.Exclusive, null)]
    public void A_lock_holds_after_an_operation(DlmOperationKind kind, LockStatus status, LockMode mode, LockResultFlags flags, LockMode? before, LockMode? after) =>
        Assert.That(LockRules.GrantedAfter(kind, Result(status, mode, flags), before), Is.EqualTo(after));
}
