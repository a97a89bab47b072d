namespace Cohort.Membership;

/// <summary>A node as the cluster document lists it.</summary>
/// <param name="Id">The node's id.</param>
/// <param name="Name">The node's name, unique in the cluster.</param>
/// <param name="Votes">The votes the node contributes to quorum; 0 means it never counts.</param>
public sealed record ClusterNode(NodeId Id, string Name, int Votes);
