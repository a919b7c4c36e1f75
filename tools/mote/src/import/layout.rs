//! Layout nodes (Transpose, Reshape, Flatten, Squeeze, Unsqueeze): folded
//! into how a value's logical dims map onto its buffer, or into views.

use anyhow::{anyhow, bail, ensure, Result};

use super::lower::{transpose, Lowerer};
use super::onnx::{Const, Node};
use super::ops::*;
use super::values::{QParams, Val};

pub(super) fn perm_attr(n: &Node, rank: usize) -> Result<Vec<usize>> {
    let p: Vec<usize> = match n.ints("perm") {
        Some(p) => p.iter().map(|&x| x as usize).collect(),
        None => (0..rank).rev().collect(),
    };
    let mut seen = vec![false; rank];
    ensure!(
        p.len() == rank,
        "node '{}': perm has {} entries for rank {rank}",
        n.name,
        p.len()
    );
    for &x in &p {
        ensure!(
            x < rank && !seen[x],
            "node '{}': perm {p:?} is not a permutation",
            n.name
        );
        seen[x] = true;
    }
    Ok(p)
}

pub(super) fn transpose_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    transpose_val(l, n, x)
}

pub(super) fn transpose_val(l: &mut Lowerer, n: &Node, x: Val) -> Result<Val> {
    if let Val::Pending(mut p) = x {
        p.post.push(n.clone());
        return Ok(Val::Pending(p));
    }
    let p = perm_attr(n, val_rank(l, &x))?;
    Ok(match x {
        Val::Act { t, perm } => Val::Act {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::FAct { t, perm } => Val::FAct {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::F32Act { t, perm } => Val::F32Act {
            t,
            perm: p.iter().map(|&i| perm[i]).collect(),
        },
        Val::Const(c) => Val::Const(transpose(&c, &p)),
        Val::QConst(c, q) => {
            let axis = p.iter().position(|&i| i == q.axis).unwrap_or(0);
            Val::QConst(transpose(&c, &p), QParams { axis, ..q })
        }
        Val::FQConst(c, q) => {
            let axis = p.iter().position(|&i| i == q.axis).unwrap_or(0);
            Val::FQConst(transpose(&c, &p), QParams { axis, ..q })
        }
        _ => bail!(
            "node '{}': Transpose of a float intermediate result is not supported",
            n.name
        ),
    })
}

pub(super) fn logical_shape(l: &Lowerer, v: &Val) -> Option<Vec<usize>> {
    match v {
        Val::Act { t, perm } | Val::FAct { t, perm } | Val::F32Act { t, perm } => {
            Some(l.logical(*t, perm))
        }
        Val::QConst(c, _) | Val::FQConst(c, _) | Val::Const(c) => Some(c.shape.clone()),
        Val::Pending(_) | Val::QPending(..) => None,
    }
}

pub(super) fn axes_of(l: &Lowerer, n: &Node, input: usize) -> Result<Option<Vec<i64>>> {
    if let Some(a) = n.ints("axes") {
        return Ok(Some(a));
    }
    Ok(match l.opt_input(n, input)? {
        Some(Val::Const(c)) => Some(c.to_i64()),
        Some(_) => bail!("node '{}': axes must be constant", n.name),
        None => None,
    })
}

pub(super) fn new_shape(l: &Lowerer, n: &Node, old: &[usize]) -> Result<Vec<usize>> {
    let total: usize = old.iter().product();
    let norm = |a: i64, r: usize| -> Result<usize> {
        let x = if a < 0 { a + r as i64 } else { a };
        ensure!(
            x >= 0 && (x as usize) < r.max(1),
            "node '{}': axis {a} out of range",
            n.name
        );
        Ok(x as usize)
    };
    let shape = match n.op_type.as_str() {
        "Reshape" => {
            let spec = l.const_input(n, 1)?.to_i64();
            let mut s = Vec::new();
            let mut infer = None;
            for (i, &d) in spec.iter().enumerate() {
                match d {
                    0 => s.push(
                        *old.get(i)
                            .ok_or_else(|| anyhow!("node '{}': bad reshape", n.name))?,
                    ),
                    -1 => {
                        infer = Some(i);
                        s.push(1);
                    }
                    d if d > 0 => s.push(d as usize),
                    _ => bail!("node '{}': bad reshape dim {d}", n.name),
                }
            }
            if let Some(i) = infer {
                let known: usize = s.iter().product();
                ensure!(
                    known > 0 && total.is_multiple_of(known),
                    "node '{}': reshape does not divide",
                    n.name
                );
                s[i] = total / known;
            }
            s
        }
        "Flatten" => {
            let axis = norm(n.int("axis", 1), old.len() + 1)?;
            vec![old[..axis].iter().product(), old[axis..].iter().product()]
        }
        "Squeeze" => match axes_of(l, n, 1)? {
            Some(axes) => {
                let axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| norm(a, old.len()))
                    .collect::<Result<_>>()?;
                old.iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &d)| d)
                    .collect()
            }
            None => old.iter().copied().filter(|&d| d != 1).collect(),
        },
        _ => {
            let axes = axes_of(l, n, 1)?
                .ok_or_else(|| anyhow!("node '{}': Unsqueeze without axes", n.name))?;
            let r = old.len() + axes.len();
            let axes: Vec<usize> = axes.iter().map(|&a| norm(a, r)).collect::<Result<_>>()?;
            let mut it = old.iter();
            (0..r)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *it.next().unwrap_or(&1)
                    }
                })
                .collect()
        }
    };
    ensure!(
        shape.iter().product::<usize>() == total,
        "node '{}': reshape changes the element count",
        n.name
    );
    Ok(shape)
}

pub(super) fn reshape_node(l: &mut Lowerer, n: &Node) -> Result<Val> {
    let x = l.input(n, 0)?;
    reshape_val(l, n, x)
}

pub(super) fn reshape_val(l: &mut Lowerer, n: &Node, x: Val) -> Result<Val> {
    if let Val::Pending(mut p) = x {
        p.post.push(n.clone());
        return Ok(Val::Pending(p));
    }
    let old = logical_shape(l, &x).ok_or_else(|| {
        anyhow!(
            "node '{}': reshape of a float intermediate result is not supported",
            n.name
        )
    })?;
    let shape = new_shape(l, n, &old)?;
    Ok(match x {
        Val::Act { t, ref perm } | Val::FAct { t, ref perm } | Val::F32Act { t, ref perm } => {
            ensure!(
                (1..=4).contains(&shape.len()),
                "node '{}': rank {} is not supported",
                n.name,
                shape.len()
            );
            let id = identity(perm.len());
            let base = l.arrange(&n.name, t, perm, &id)?;
            let v = l.view(&n.name, base, shape.clone());
            let perm = identity(shape.len());
            match x {
                Val::Act { .. } => Val::Act { t: v, perm },
                Val::F32Act { .. } => Val::F32Act { t: v, perm },
                _ => Val::FAct { t: v, perm },
            }
        }
        Val::Const(c) => Val::Const(Const { shape, ..c }),
        Val::QConst(c, q) | Val::FQConst(c, q) if q.scale.len() == 1 => {
            let c = Const { shape, ..c };
            Val::FQConst(c, q)
        }
        Val::QConst(c, q) | Val::FQConst(c, q) => {
            // A per-channel vector keeps its axis where its one long dim goes.
            let long =
                |s: &[usize]| -> Vec<usize> { (0..s.len()).filter(|&i| s[i] != 1).collect() };
            let (lo, ln) = (long(&c.shape), long(&shape));
            ensure!(
                lo.len() == 1 && ln.len() == 1 && lo[0] == q.axis,
                "node '{}': reshape of a per-channel constant is not supported",
                n.name
            );
            let q = QParams { axis: ln[0], ..q };
            Val::FQConst(Const { shape, ..c }, q)
        }
        _ => bail!("node '{}': reshape of this value is not supported", n.name),
    })
}
