//! Offline arena planning: greedy placement by size of tensors whose
//! lifetimes overlap, so tensors that are never live together share memory.

use crate::lir::Graph;

/// Alignment of every tensor in the arena.
pub const TENSOR_ALIGN: usize = 4;

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

    // Several greedy orders; keep the smallest arena. Each places tensors
    // one by one at the lowest offset free during their whole lifetime.
    let mut orders: Vec<Vec<usize>> = Vec::new();
    let mut by_size = roots.clone();
    by_size.sort_by(|&a, &b| size(b).cmp(&size(a)).then(first[a].cmp(&first[b])));
    orders.push(by_size);
    let mut by_first = roots.clone();
    by_first.sort_by(|&a, &b| first[a].cmp(&first[b]).then(size(b).cmp(&size(a))));
    orders.push(by_first);
    let span = |t: usize| last[t].min(n_ops).saturating_sub(first[t]) + 1;
    let mut by_area = roots.clone();
    by_area.sort_by(|&a, &b| {
        (size(b) * span(b))
            .cmp(&(size(a) * span(a)))
            .then(a.cmp(&b))
    });
    orders.push(by_area);
    let mut by_span = roots.clone();
    by_span.sort_by(|&a, &b| span(b).cmp(&span(a)).then(size(b).cmp(&size(a))));
    orders.push(by_span);
    let place = |order: &[usize], best_fit: bool| -> (Vec<usize>, usize) {
        let mut offsets = vec![0usize; n];
        let mut placed: Vec<usize> = Vec::new();
        let mut arena_len = 0;
        for &t in order {
            let overlaps = |u: usize| first[u] <= last[t] && first[t] <= last[u];
            let mut busy: Vec<(usize, usize)> = placed
                .iter()
                .filter(|&&u| overlaps(u))
                .map(|&u| (offsets[u], offsets[u] + align(size(u))))
                .collect();
            busy.sort();
            let need = align(size(t));
            // Free gaps between busy ranges; the last one is unbounded.
            let mut gaps = Vec::new();
            let mut at = 0;
            for (s, e) in busy {
                if s > at {
                    gaps.push((at, s - at));
                }
                at = at.max(e);
            }
            gaps.push((at, usize::MAX));
            let fits = gaps.iter().filter(|g| g.1 >= need);
            let chosen = if best_fit {
                fits.min_by_key(|g| (g.1, g.0))
            } else {
                fits.min_by_key(|g| g.0)
            };
            let offset = chosen.map(|g| g.0).unwrap_or(at);
            offsets[t] = offset;
            arena_len = arena_len.max(offset + need);
            placed.push(t);
        }
        (offsets, arena_len)
    };
    let (mut offsets, mut arena_len) = (vec![0usize; n], usize::MAX);
    for order in &orders {
        for best_fit in [false, true] {
            let (o, len) = place(order, best_fit);
            if len < arena_len {
                (offsets, arena_len) = (o, len);
            }
        }
    }
    if roots.is_empty() {
        arena_len = 0;
    }
    for t in 0..n {
        offsets[t] = offsets[g.root(t)];
    }
    Plan {
        offsets,
        arena_len,
        ideal_peak,
    }
}
