using Cohort.Membership;

namespace Cohort.ClusterConfiguration;

/// <summary>Local request: the membership view this node installed. Its id is the ballot its coordinator
/// proposes under; frames of older ballots are refused.</summary>
/// <param name="View">The view.</param>
public sealed record ConfigViewInstalled(View View);

/// <summary>Local request: propose <paramref name="Document"/> as the next version.</summary>
/// <param name="Token">The caller's number for the request, echoed in <see cref="ConfigApplyCompleted"/>;
/// unique within the node's incarnation.</param>
/// <param name="Document">The document's bytes, already validated by the host.</param>
/// <param name="ExpectedVersion">Commit only if the committed version is still this one (compare-and-swap);
/// null to commit after whatever is committed.</param>
/// <param name="ProposedAt">The wall-clock time of the request, recorded in the history.</param>
public sealed record ConfigApply(long Token, ReadOnlyMemory<byte> Document, long? ExpectedVersion, DateTimeOffset ProposedAt);

/// <summary>The outcome of a <see cref="ConfigApply"/>.</summary>
public enum ConfigApplyOutcome
{
    /// <summary>The document is committed as <see cref="ConfigApplyCompleted.Version"/> (or was already the committed one).</summary>
    Committed = 0,

    /// <summary>The committed version was not the expected one: <see cref="ConfigApplyCompleted.Version"/> is, proposed by <see cref="ConfigApplyCompleted.Winner"/>.</summary>
    Conflict = 1,

    /// <summary>No outcome was learned in time: the document may still commit.</summary>
    OutcomeUnknown = 2,

    /// <summary>The document is not valid; nothing was proposed.</summary>
    Invalid = 3,
}

/// <summary>Local request: membership heard <paramref name="Peer"/> hold committed version
/// <paramref name="Version"/>, newer than this node's: fetch from it. A node behind the cluster is kept
/// out of views (it judges quorum by rules the others no longer use) until it caught up this way.</summary>
/// <param name="Peer">The peer that is ahead.</param>
/// <param name="Version">The version it holds.</param>
public sealed record ConfigCatchUp(NodeId Peer, long Version);

/// <summary>
/// Event: this node is about to acknowledge <paramref name="Version"/>, not yet committed. Published
/// before the acknowledgement (or the leader's own vote) in the same step: the host must make
/// membership stop supporting views judged under an older version before the acknowledgement leaves,
/// so no view under the old rules stays quorate once the new version can commit (when the new version
/// judges quorum as the old one does, membership needs to do nothing).
/// </summary>
/// <param name="Version">The version accepted.</param>
/// <param name="Document">Its document.</param>
public sealed record ConfigAccepting(long Version, ReadOnlyMemory<byte> Document);

/// <summary>Event: a version committed (on this node, durably: its document is fsynced here).</summary>
/// <param name="Version">The version.</param>
public sealed record ConfigCommitted(ConfigVersion Version);

/// <summary>Event: a <see cref="ConfigApply"/> has its outcome.</summary>
/// <param name="Token">The request's token.</param>
/// <param name="Outcome">The outcome.</param>
/// <param name="Version">The committed version (for a conflict: the one that won), or 0.</param>
/// <param name="Winner">For a conflict, the node whose request committed that version.</param>
/// <param name="Detail">Why, for an operator.</param>
public sealed record ConfigApplyCompleted(long Token, ConfigApplyOutcome Outcome, long Version, NodeId? Winner, string Detail);

/// <summary>Event: a peer holds a different committed document under a version this node committed —
/// something broke invariant 4 (a restored backup, a copied state directory). Reported once per peer
/// and version.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="Version">The version.</param>
/// <param name="Mine">This node's hash for it.</param>
/// <param name="Theirs">The peer's hash.</param>
public sealed record ConfigDiverged(NodeId Peer, long Version, string Mine, string Theirs);
