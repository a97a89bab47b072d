using Cohort.Membership;

namespace Cohort.ClusterConfiguration;

/// <summary>
/// One version of the cluster document: committed, or accepted by some nodes and in doubt. A version is
/// identified by its number <em>and</em> its document's hash; two versions with one number and different
/// hashes are different versions (only one of them can ever commit).
/// </summary>
/// <param name="Version">The version number, from 1 (the bootstrap document).</param>
/// <param name="Document">The document's bytes, exactly as proposed (UTF-8 JSON).</param>
/// <param name="Sha256">SHA-256 of <paramref name="Document"/>, lower-case hex.</param>
/// <param name="Ballot">The view id under which it was proposed; the bootstrap version has ballot (0, 0).</param>
/// <param name="Origin">The node incarnation whose request proposed it.</param>
/// <param name="RequestId">That node's number for the request, unique within its incarnation; 0 for the bootstrap version.</param>
/// <param name="ProposedAt">The origin's wall-clock time of the request (information only; never compared).</param>
public sealed record ConfigVersion(
    long Version,
    ReadOnlyMemory<byte> Document,
    string Sha256,
    ViewId Ballot,
    NodeIncarnation Origin,
    long RequestId,
    DateTimeOffset ProposedAt);
