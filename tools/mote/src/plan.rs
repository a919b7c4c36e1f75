//! Offline arena planning: greedy placement by size of tensors whose
//! lifetimes overlap, so tensors that are never live together share memory.

use crate::lir::Graph;

/// Alignment of every tensor in the arena.
pub const TENSOR_ALIGN: usize = 16;

/// Result of planning.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Arena offset per tensor (aliases get their root's offset).
    pub offsets: Vec<usize>,
    /// Arena bytes needed.
    pub arena_len: usize,
    /// Largest sum of live tensor bytes over the ops (the ideal
    /// layer-by-layer peak a perfect planner could reach).
    pub ideal_peak: usize,
}

fn align(x: usize) -> usize {
    x.div_ceil(TENSOR_ALIGN) * TENSOR_ALIGN
}

/// Plans the arena of `g`.
pub fn plan(g: &Graph) -> Plan {
    let n = g.tensors.len();
    let n_ops = g.ops.len();
    // Lifetime in op steps: [first, last], inclusive. Model inputs are live
    // from before op 0, outputs until after the last op.
    let mut first = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let touch = |t: usize, step: usize, first: &mut Vec<usize>, last: &mut Vec<usize>| {
        first[t] = first[t].min(step);
        last[t] = last[t].max(step);
    };
    for &t in &g.inputs {
        touch(g.root(t), 0, &mut first, &mut last);
    }
    for (i, op) in g.ops.iter().enumerate() {
        for &t in op.inputs.iter().chain(std::iter::once(&op.output)) {
            touch(g.root(t), i, &mut first, &mut last);
        }
    }
    for &t in &g.outputs {
        touch(g.root(t), n_ops.max(1) - 1, &mut first, &mut last);
        last[g.root(t)] = usize::MAX;
    }
    let roots: Vec<usize> = (0..n)
        .filter(|&t| g.tensors[t].alias_of.is_none() && first[t] != usize::MAX)
        .collect();
    let size = |t: usize| g.tensors[t].byte_len();

    let mut ideal_peak = 0;
    for step in 0..n_ops.max(1) {
        let live: usize = roots
            .iter()
            .filter(|&&t| first[t] <= step && step <= last[t])
            .map(|&t| size(t))
            .sum();
        ideal_peak = ideal_peak.max(live);
    }

    let mut order = roots.clone();
    order.sort_by(|&a, &b| size(b).cmp(&size(a)).then(first[a].cmp(&first[b])));
    let mut offsets = vec![0usize; n];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_len = 0;
    for t in order {
        let overlaps = |u: usize| first[u] <= last[t] && first[t] <= last[u];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&u| overlaps(u))
            .map(|&u| (offsets[u], offsets[u] + align(size(u))))
            .collect();
        busy.sort();
        let need = align(size(t));
        let mut at = 0;
        for (s, e) in busy {
            if at + need <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[t] = at;
        arena_len = arena_len.max(at + need);
        placed.push(t);
    }
    for t in 0..n {
        offsets[t] = offsets[g.root(t)];
    }
    Plan { offsets, arena_len, ideal_peak }
}
