import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

const CO_PARTITIONED = 'AgentplaneCoPartitioned';

/**
 * Partition number p of every topic goes to the same member (members sorted by id, p modulo
 * their count). Records keyed alike land on the same partition number of topics with the same
 * partition count, so one member handles all of them: a session's requests and its events.
 * Pure, so it is tested without a broker.
 */
export function assignCoPartitioned(memberIds: readonly string[], partitionsByTopic: ReadonlyMap<string, readonly number[]>): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>(members.map((m) => [m, {}]));
  if (members.length === 0) return out;
  for (const [topic, partitions] of partitionsByTopic) {
    for (const p of [...partitions].sort((a, b) => a - b)) {
      const a = out.get(members[p % members.length]!)!;
      (a[topic] ??= []).push(p);
    }
  }
  return out;
}

/**
 * kafkajs assigner for `assignCoPartitioned`. Offered before round robin: the coordinator picks
 * a protocol every member offers, so members that only know round robin (an older build during
 * a rolling upgrade) still join, and the group uses this one once every member offers it.
 */
export const coPartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: CO_PARTITIONED,
  version: 0,
  async assign({ members, topics }) {
    const partitions = new Map<string, number[]>();
    for (const topic of [...topics].sort()) partitions.set(topic, cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId));
    const assignment = assignCoPartitioned(
      members.map((m) => m.memberId),
      partitions,
    );
    return [...assignment].map(([memberId, a]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: a, userData: Buffer.alloc(0) }),
    }));
  },
  protocol({ topics }) {
    return { name: CO_PARTITIONED, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) };
  },
});
