using Cohort.Membership;

namespace Cohort.ClusterConfiguration;

/// <summary>What the host found in a cluster document: the nodes and votes that decide its majority, and
/// every problem with it (a document with problems is never accepted).</summary>
/// <param name="Nodes">The document's nodes with their votes.</param>
/// <param name="Problems">One line per problem, each naming the JSON path and what was expected; empty when valid.</param>
public sealed record ConfigDocumentCheck(IReadOnlyList<ClusterNode> Nodes, IReadOnlyList<string> Problems)
{
    /// <summary>True when the document has no problems.</summary>
    public bool IsValid => Problems.Count == 0;
}

/// <summary>Inspects a cluster document: a pure function of its bytes, the same on every node.</summary>
/// <param name="document">The document's bytes.</param>
public delegate ConfigDocumentCheck ConfigDocumentInspector(ReadOnlyMemory<byte> document);
