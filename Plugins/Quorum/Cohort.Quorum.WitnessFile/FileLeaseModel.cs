using Cohort.Membership;

namespace Cohort.Quorum.WitnessFile;

/// <summary>
/// The witness-file device as <c>cohort simulate</c> runs it: every node's real
/// <see cref="FileLeaseCore"/> against one in-memory file whose reads and writes take effect at once
/// (the core's own checker covers slow and hung IO).
/// </summary>
internal sealed class FileLeaseModel(IReadOnlyList<NodeId> slotNodes, WitnessFileOptions options, double clockDriftBound, NodeId tieBreaker)
{
    private readonly NodeId[] _slotNodes = [.. slotNodes];
    private readonly SlotContent?[] _slots = [.. slotNodes.Select(_ => new SlotContent(default, 0, 0, null))];
    private readonly Dictionary<NodeId, (long Incarnation, FileLeaseCore Core)> _cores = [];

    /// <summary>One step for one node, on its clock: read, write if asked, read back.</summary>
    public QuorumDeviceGrant Advance(NodeIncarnation node, View? view, TimeSpan local)
    {
        if (!_cores.TryGetValue(node.Node, out var entry) || entry.Incarnation != node.Incarnation)
        {
            entry = (node.Incarnation, new FileLeaseCore(_slotNodes, node, options.Lease, options.RenewInterval, clockDriftBound, tieBreaker));
            _cores[node.Node] = entry;
        }

        var slot = Array.IndexOf(_slotNodes, node.Node);
        for (var round = 0; round < 3; round++)
        {
            if (entry.Core.Read(local, view, _slots) is not { } write)
            {
                break;
            }

            _slots[slot] = write;
            entry.Core.Written(local);
        }

        return entry.Core.Grant(local);
    }
}
