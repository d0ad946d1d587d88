//! Placements (parallelism matrices), their dims, and the rank ↔ coordinates
//! convention of `docs/design.md` (§2).
//!
//! A matrix `P[axis][level]` spreads each axis over the levels; the dims are the cells
//! with `P > 1`, ordered outer level first, then axis order. Because a rank's level
//! digit splits into per-axis digits with the first axis most significant, and levels
//! are outer-most-significant, **a rank is the mixed-radix number of its dim digits in
//! dim order**. Every other convention follows from that one fact.

pub mod tree;

use std::fmt;

use crate::number::gcd;
use crate::spec::Spec;

/// One dim of a placement: `level:axis`, spread over `size > 1` children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dim {
    /// Level index (0 = outermost).
    pub level: usize,
    /// Axis index (spec order).
    pub axis: usize,
    /// The matrix entry, > 1.
    pub size: u64,
}

/// A parallelism matrix with its derived dims.
///
/// ```
/// use collsynth::placement::Placement;
/// use collsynth::spec::Spec;
///
/// // The embedded default: 4 nodes x 8 GPUs; data = 8 spread 2 x 4, model = 4 as 2 x 2.
/// let spec = Spec::embedded_default();
/// let p = Placement::new(&spec, vec![vec![2, 4], vec![2, 2]]).unwrap();
/// assert_eq!(p.dim_names(&spec), ["node:data", "node:model", "gpu:data", "gpu:model"]);
/// // A rank is the mixed-radix number of its dim digits in dim order (sizes 2, 2,
/// // 4, 2): 13 = 0·16 + 1·8 + 2·2 + 1.
/// assert_eq!(p.digits(13), vec![0, 1, 2, 1]);
/// // An axis coordinate is the mixed radix of its digits, outer level first:
/// // data = 0·4 + 2, model = 1·2 + 1.
/// assert_eq!(p.coords(13), vec![2, 3]);
/// assert_eq!(p.rank_of_coords(&[2, 3]), 13);
/// // A matrix that does not fit is refused with the reason.
/// assert!(Placement::new(&spec, vec![vec![8, 1], vec![1, 4]]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    /// `matrix[axis][level]`.
    pub matrix: Vec<Vec<u64>>,
    /// Dims in significance order (most significant first).
    pub dims: Vec<Dim>,
    /// `strides[i]`: the rank weight of one step in dim `i`.
    pub strides: Vec<u64>,
}

/// Why a matrix does not fit a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(pub String);

impl Placement {
    /// Builds a placement from a matrix, checking that it fits the spec.
    pub fn new(spec: &Spec, matrix: Vec<Vec<u64>>) -> Result<Placement, MatrixError> {
        let (na, nl) = (spec.axes.len(), spec.system.levels.len());
        if matrix.len() != na {
            return Err(MatrixError(format!(
                "the matrix has {} rows, but the spec has {na} axes ({}): give one row per axis",
                matrix.len(),
                spec.axes
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for (a, row) in matrix.iter().enumerate() {
            if row.len() != nl {
                return Err(MatrixError(format!(
                    "row {} (axis `{}`) has {} entries, but the system has {nl} levels: give one entry per level",
                    a + 1,
                    spec.axes[a].name,
                    row.len()
                )));
            }
            if row.contains(&0) {
                return Err(MatrixError(format!(
                    "row {} (axis `{}`) has a 0: entries are positive",
                    a + 1,
                    spec.axes[a].name
                )));
            }
            let p = row.iter().fold(1u128, |p, &x| p.saturating_mul(x as u128));
            if p != spec.axes[a].size as u128 {
                return Err(MatrixError(format!(
                    "row {} (axis `{}`) multiplies to {p}, but the axis has size {}",
                    a + 1,
                    spec.axes[a].name,
                    spec.axes[a].size
                )));
            }
        }
        for (l, level) in spec.system.levels.iter().enumerate() {
            let p = matrix
                .iter()
                .fold(1u128, |p, row| p.saturating_mul(row[l] as u128));
            if p != level.arity as u128 {
                return Err(MatrixError(format!(
                    "column {} (level `{}`) multiplies to {p}, but the level has arity {}",
                    l + 1,
                    level.name,
                    level.arity
                )));
            }
        }
        Ok(Placement::from_valid_matrix(matrix))
    }

    /// Builds a placement from a matrix known to fit (from [`enumerate`]).
    pub fn from_valid_matrix(matrix: Vec<Vec<u64>>) -> Placement {
        let nl = matrix.first().map_or(0, |r| r.len());
        let mut dims = Vec::new();
        for level in 0..nl {
            for (axis, row) in matrix.iter().enumerate() {
                if row[level] > 1 {
                    dims.push(Dim {
                        level,
                        axis,
                        size: row[level],
                    });
                }
            }
        }
        let mut strides = vec![1u64; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1].size;
        }
        Placement {
            matrix,
            dims,
            strides,
        }
    }

    /// Number of devices.
    pub fn devices(&self) -> u64 {
        self.dims.iter().map(|d| d.size).product()
    }

    /// The position of `level:axis` among the dims, if it is one.
    pub fn dim_index(&self, level: usize, axis: usize) -> Option<usize> {
        self.dims
            .iter()
            .position(|d| d.level == level && d.axis == axis)
    }

    /// A rank's digit on every dim.
    pub fn digits(&self, rank: u64) -> Vec<u64> {
        self.dims
            .iter()
            .zip(&self.strides)
            .map(|(d, s)| (rank / s) % d.size)
            .collect()
    }

    /// The rank of a digit vector.
    pub fn rank(&self, digits: &[u64]) -> u64 {
        digits.iter().zip(&self.strides).map(|(d, s)| d * s).sum()
    }

    /// A rank's coordinate on every axis (spec order): the mixed-radix number of the
    /// axis's digits, outer level most significant.
    pub fn coords(&self, rank: u64) -> Vec<u64> {
        let mut c = vec![0u64; self.matrix.len()];
        for (d, digit) in self.dims.iter().zip(self.digits(rank)) {
            c[d.axis] = c[d.axis] * d.size + digit;
        }
        c
    }

    /// The reduction dims of a request over `request_axes`: the dims whose axis is
    /// requested, in significance order.
    pub fn reduction_dims<'a>(
        &'a self,
        request_axes: &'a [usize],
    ) -> impl Iterator<Item = &'a Dim> + 'a {
        self.dims
            .iter()
            .filter(move |d| request_axes.contains(&d.axis))
    }

    /// The key of a rank's reduction group for a request over `request_axes`: its
    /// coordinates on every other axis (`docs/design.md`: the group is the devices that agree
    /// with it on every axis not in the request).
    pub fn group_key(&self, rank: u64, request_axes: &[usize]) -> Vec<u64> {
        self.coords(rank)
            .into_iter()
            .enumerate()
            .filter(|(a, _)| !request_axes.contains(a))
            .map(|(_, c)| c)
            .collect()
    }

    /// The rank with the given axis coordinates (inverse of [`Placement::coords`]).
    pub fn rank_of_coords(&self, coords: &[u64]) -> u64 {
        let mut rest = coords.to_vec();
        let mut digits = vec![0u64; self.dims.len()];
        for (i, d) in self.dims.iter().enumerate().rev() {
            digits[i] = rest[d.axis] % d.size;
            rest[d.axis] /= d.size;
        }
        self.rank(&digits)
    }

    /// The axes, fastest-varying first, when every rank is the mixed-radix number of
    /// its axis coordinates in one order of the axes (what Megatron-Core's
    /// `order="tp-dp-pp"` and a row-major `init_device_mesh` express); `None` when an
    /// axis's dims are split by another axis's in the rank numbering. Axes of size 1
    /// (no dims) vary in no rank and come last (slowest), in spec order.
    ///
    /// Because a rank is the mixed radix of its dim digits in dim order and an axis's
    /// dims are in level order, the rank is a mixed radix of axis coordinates exactly
    /// when each axis's dims are consecutive in the dim order; the representation is
    /// unique, so no other placement has an order.
    ///
    /// ```
    /// use collsynth::placement::Placement;
    /// // node:pipe, node:data, gpu:tensor (tensor, pipe, data): tensor fastest.
    /// let p = Placement::from_valid_matrix(vec![vec![1, 8], vec![4, 1], vec![4, 1]]);
    /// assert_eq!(p.rank_order(), Some(vec![0, 2, 1]));
    /// // node:tensor, node:pipe, node:data, gpu:tensor, gpu:pipe: tensor is split.
    /// let p = Placement::from_valid_matrix(vec![vec![2, 4], vec![2, 2], vec![4, 1]]);
    /// assert_eq!(p.rank_order(), None);
    /// ```
    pub fn rank_order(&self) -> Option<Vec<usize>> {
        let mut order: Vec<usize> = Vec::new();
        for d in self.dims.iter().rev() {
            if order.last() == Some(&d.axis) {
                continue;
            }
            if order.contains(&d.axis) {
                return None;
            }
            order.push(d.axis);
        }
        let unused: Vec<usize> = (0..self.matrix.len())
            .filter(|a| !order.contains(a))
            .collect();
        order.extend(unused);
        Some(order)
    }

    /// When [`Placement::rank_order`] is `None`: an axis whose dims are split by
    /// another axis's, and that other axis (the first such pair, most significant
    /// dims first).
    pub fn split_axis(&self) -> Option<(usize, usize)> {
        for (i, d) in self.dims.iter().enumerate() {
            let rest = &self.dims[i + 1..];
            if let Some(j) = rest.iter().position(|e| e.axis != d.axis) {
                if rest[j + 1..].iter().any(|e| e.axis == d.axis) {
                    return Some((d.axis, rest[j].axis));
                }
            }
        }
        None
    }

    /// `level:axis` text of a dim.
    pub fn dim_name(&self, spec: &Spec, i: usize) -> String {
        let d = self.dims[i];
        format!(
            "{}:{}",
            spec.system.levels[d.level].name, spec.axes[d.axis].name
        )
    }

    /// Every dim's `level:axis` text.
    pub fn dim_names(&self, spec: &Spec) -> Vec<String> {
        (0..self.dims.len())
            .map(|i| self.dim_name(spec, i))
            .collect()
    }

    /// The matrix as `--matrix` text: `2,4;1,2`.
    pub fn matrix_text(&self) -> String {
        MatrixText(&self.matrix).to_string()
    }
}

/// Formats a matrix as `2,4;1,2`.
pub struct MatrixText<'a>(pub &'a [Vec<u64>]);

impl fmt::Display for MatrixText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, row) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            for (j, x) in row.iter().enumerate() {
                if j > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{x}")?;
            }
        }
        Ok(())
    }
}

/// Parses `--matrix` text: rows separated by `;`, entries by `,`.
pub fn parse_matrix(text: &str) -> Result<Vec<Vec<u64>>, MatrixError> {
    text.split(';')
        .enumerate()
        .map(|(r, row)| {
            row.split(',')
                .map(|x| {
                    x.trim().parse::<u64>().map_err(|_| {
                        MatrixError(format!(
                            "`{}` in row {} is not a positive whole number; write the matrix like \"2,4;1,2\" (rows = axes, separated by `;`)",
                            x.trim(),
                            r + 1
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// The most placements collsynth lists or ranks: 100,000 (`synth`'s search for the
/// best placement lists none and has no such cap: [`tree`], `synth::bnb`). Real systems
/// (up to 5 levels, 6 axes) have at most a few thousand; a generated hierarchy of
/// 9 levels × 4 axes has millions, and listing them took gigabytes. Counted with an
/// early stop ([`count_up_to`]) before any work.
pub const MAX_PLACEMENTS: u64 = 100_000;

/// The number of placements, or `None` when there are more than `limit` (found
/// after visiting about `limit` of them, never all).
pub fn count_up_to(spec: &Spec, limit: u64) -> Option<u64> {
    let mut n = 0u64;
    let complete = for_each_matrix_while(spec, |_| {
        n += 1;
        n <= limit
    });
    complete.then_some(n)
}

/// The number of placements if it is at most [`MAX_PLACEMENTS`], else an error that
/// says what to change.
pub fn checked_count(spec: &Spec) -> Result<u64, MatrixError> {
    count_up_to(spec, MAX_PLACEMENTS).ok_or_else(|| {
        MatrixError(format!(
            "{}: the spec has more than {MAX_PLACEMENTS} placements ({} levels, {} axes), the most collsynth enumerates: use fewer levels or axes, or merge levels whose links are alike",
            spec.source,
            spec.system.levels.len(),
            spec.axes.len()
        ))
    })
}

/// Every parallelism matrix of the spec, in ascending lexicographic order of the
/// matrix read row by row (so position = placement index). Callers check
/// [`checked_count`] first.
pub fn enumerate(spec: &Spec) -> Vec<Vec<Vec<u64>>> {
    let mut out = Vec::new();
    for_each_matrix(spec, |m| out.push(m.to_vec()));
    out
}

/// Number of placements, without keeping them.
pub fn count(spec: &Spec) -> u64 {
    let mut n = 0u64;
    for_each_matrix(spec, |_| n += 1);
    n
}

/// The placement index of a matrix that fits the spec (its position in [`enumerate`]'s
/// order), counted through the placement [`tree`] without listing placements, so
/// for a spec of any placement count; `None` for a matrix that does not fit.
pub fn index_of(spec: &Spec, matrix: &[Vec<u64>]) -> Option<usize> {
    Placement::new(spec, matrix.to_vec()).ok()?;
    usize::try_from(tree::Tree::new(spec).index_of(matrix)).ok()
}

/// The matrix of placement `index`, found through the placement [`tree`] without
/// listing placements; `Err(count)` (the spec's placement count) when there is no
/// such placement.
pub fn nth(spec: &Spec, index: usize) -> Result<Vec<Vec<u64>>, u128> {
    let mut tree = tree::Tree::new(spec);
    tree.nth(index as u128).ok_or_else(|| tree.count())
}

/// The first `n` placements' matrices, with their indices (the list behind a
/// "choose one with --placement N" message), without listing the rest.
pub fn first(spec: &Spec, n: usize) -> Vec<(usize, Vec<Vec<u64>>)> {
    let mut out = Vec::new();
    for_each_matrix_while(spec, |m| {
        out.push((out.len(), m.to_vec()));
        out.len() < n
    });
    out
}

/// Calls `f` on every matrix, in placement order.
pub fn for_each_matrix(spec: &Spec, mut f: impl FnMut(&[Vec<u64>])) {
    for_each_matrix_while(spec, |m| {
        f(m);
        true
    });
}

/// Calls `f` on the matrices in placement order while it returns true; whether every
/// matrix was visited.
pub fn for_each_matrix_while(spec: &Spec, mut f: impl FnMut(&[Vec<u64>]) -> bool) -> bool {
    let rows: Vec<u64> = spec.axes.iter().map(|a| a.size).collect();
    let cols: Vec<u64> = spec.system.levels.iter().map(|l| l.arity).collect();
    let mut m = vec![vec![0u64; cols.len()]; rows.len()];
    let mut row_rem = rows.clone();
    let mut col_rem = cols.clone();
    fill(0, 0, &mut m, &mut row_rem, &mut col_rem, &mut f)
}

fn fill(
    a: usize,
    l: usize,
    m: &mut Vec<Vec<u64>>,
    row_rem: &mut [u64],
    col_rem: &mut [u64],
    f: &mut impl FnMut(&[Vec<u64>]) -> bool,
) -> bool {
    let (na, nl) = (row_rem.len(), col_rem.len());
    if a == na {
        return f(m);
    }
    let (na2, nl2) = if l + 1 == nl { (a + 1, 0) } else { (a, l + 1) };
    let last_col = l + 1 == nl;
    let last_row = a + 1 == na;
    let candidates: Vec<u64> = if last_col || last_row {
        let v = if last_col { row_rem[a] } else { col_rem[l] };
        if row_rem[a].is_multiple_of(v)
            && col_rem[l].is_multiple_of(v)
            && (!last_col || !last_row || row_rem[a] == col_rem[l])
        {
            vec![v]
        } else {
            vec![]
        }
    } else {
        divisors(gcd(row_rem[a], col_rem[l]))
    };
    for v in candidates {
        m[a][l] = v;
        row_rem[a] /= v;
        col_rem[l] /= v;
        let more = fill(na2, nl2, m, row_rem, col_rem, f);
        row_rem[a] *= v;
        col_rem[l] *= v;
        if !more {
            return false;
        }
    }
    true
}

/// Divisors of `n` in ascending order.
fn divisors(n: u64) -> Vec<u64> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut d = 1u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            small.push(d);
            if d * d != n {
                large.push(n / d);
            }
        }
        d += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divisors_ascending() {
        assert_eq!(divisors(12), vec![1, 2, 3, 4, 6, 12]);
        assert_eq!(divisors(1), vec![1]);
        assert_eq!(divisors(16), vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn design_example_groups() {
        // 2 nodes x 8 GPUs, data = 8 over [2, 4], model = 2 over [1, 2].
        let p = Placement::from_valid_matrix(vec![vec![2, 4], vec![1, 2]]);
        assert_eq!(p.dims.len(), 3);
        // node:data, gpu:data, gpu:model
        assert_eq!(p.strides, vec![8, 2, 1]);
        assert_eq!(p.coords(0), vec![0, 0]);
        assert_eq!(p.coords(1), vec![0, 1]);
        assert_eq!(p.coords(2), vec![1, 0]);
        assert_eq!(p.coords(8), vec![4, 0]);
        for r in 0..16 {
            assert_eq!(p.rank_of_coords(&p.coords(r)), r);
        }
    }

    /// `rank_order` agrees with the coordinates: where there is an order, every
    /// rank is the mixed radix of its coordinates in it; where there is none, no
    /// order of the axes gives every rank.
    #[test]
    fn rank_order_is_the_mixed_radix_of_the_coordinates() {
        let spec = crate::spec::Spec::embedded_default();
        let radix = |p: &Placement, order: &[usize], r: u64| {
            let c = p.coords(r);
            order
                .iter()
                .rev()
                .fold(0u64, |acc, &a| acc * spec.axes[a].size + c[a])
        };
        let (mut with, mut without) = (0, 0);
        for m in enumerate(&spec) {
            let p = Placement::from_valid_matrix(m);
            let perms = [vec![0, 1], vec![1, 0]];
            let fits: Vec<&Vec<usize>> = perms
                .iter()
                .filter(|o| (0..p.devices()).all(|r| radix(&p, o, r) == r))
                .collect();
            match p.rank_order() {
                Some(o) => {
                    with += 1;
                    assert!(fits.contains(&&o), "{:?}: {o:?}", p.matrix);
                    assert_eq!(p.split_axis(), None);
                }
                None => {
                    without += 1;
                    assert!(fits.is_empty(), "{:?}", p.matrix);
                    assert!(p.split_axis().is_some(), "{:?}", p.matrix);
                }
            }
        }
        assert!(with > 0 && without > 0, "{with} {without}");
    }
}
