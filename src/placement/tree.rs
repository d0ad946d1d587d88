//! The placement tree: partial matrices filled row by row (axis by axis, spec
//! order), for searches that cannot list every placement (`synth`'s branch and
//! bound, docs/design.md, §9).
//!
//! A node at depth `a` fixes rows `0..a`; its children fix row `a`, in ascending
//! lexicographic order of the row. Since placement indices follow the ascending
//! lexicographic order of the matrix read row by row ([`super::enumerate`]), a
//! node's leaves are a contiguous range of indices, and a node's children are in
//! index order. The number of completions of a node depends only on its depth and
//! the multiset of its columns' remaining products (rows constrain only products
//! over all columns, so permuting columns permutes completions), which keeps the
//! memo small: placements are counted and indexed without being listed.

use std::collections::HashMap;

use crate::number::gcd;
use crate::spec::Spec;

/// Counts and indexes the completions of partial matrices of one spec.
pub struct Tree {
    /// Axis sizes (row products).
    pub rows: Vec<u64>,
    /// Level arities (column products).
    pub cols: Vec<u64>,
    /// Completions of rows `a..` given the columns' remaining products (sorted).
    memo: HashMap<(usize, Vec<u64>), u128>,
}

impl Tree {
    /// The tree of a spec's placements.
    pub fn new(spec: &Spec) -> Tree {
        Tree {
            rows: spec.axes.iter().map(|a| a.size).collect(),
            cols: spec.system.levels.iter().map(|l| l.arity).collect(),
            memo: HashMap::new(),
        }
    }

    /// Every row `a` that fits the columns' remaining products `col_rem` (each
    /// entry divides its column's remainder, the entries multiply to the axis
    /// size), in ascending lexicographic order. The last row must use up every
    /// column. Rows that leave no completion for the rows after are included; see
    /// [`Tree::children`].
    pub fn rows_of(&self, a: usize, col_rem: &[u64]) -> Vec<Vec<u64>> {
        let mut out = Vec::new();
        if a + 1 == self.rows.len() {
            if col_rem.iter().product::<u64>() == self.rows[a] {
                out.push(col_rem.to_vec());
            }
            return out;
        }
        let mut row = vec![1u64; col_rem.len()];
        row_rec(0, self.rows[a], col_rem, &mut row, &mut out);
        out
    }

    /// The children of a node at depth `a` with remaining column products
    /// `col_rem`: each row that leaves at least one completion, with the columns'
    /// remainders after it, in index order.
    pub fn children(&mut self, a: usize, col_rem: &[u64]) -> Vec<(Vec<u64>, Vec<u64>)> {
        let mut out = Vec::new();
        for row in self.rows_of(a, col_rem) {
            let rest = divide(col_rem, &row);
            if self.completions(a + 1, &rest) > 0 {
                out.push((row, rest));
            }
        }
        out
    }

    /// The number of ways to fill rows `a..` when the columns have `col_rem` left.
    pub fn completions(&mut self, a: usize, col_rem: &[u64]) -> u128 {
        if a == self.rows.len() {
            return u128::from(col_rem.iter().all(|&c| c == 1));
        }
        let mut key = col_rem.to_vec();
        key.sort_unstable();
        if let Some(&n) = self.memo.get(&(a, key.clone())) {
            return n;
        }
        let mut n = 0u128;
        for row in self.rows_of(a, col_rem) {
            let rest = divide(col_rem, &row);
            n = n.saturating_add(self.completions(a + 1, &rest));
        }
        self.memo.insert((a, key), n);
        n
    }

    /// The number of placements of the spec.
    pub fn count(&mut self) -> u128 {
        let cols = self.cols.clone();
        self.completions(0, &cols)
    }

    /// The first completion (lowest index) of rows `0..a` (`prefix`) leaving
    /// `col_rem`; `None` when there is none.
    pub fn first_completion(
        &mut self,
        prefix: &[Vec<u64>],
        col_rem: &[u64],
    ) -> Option<Vec<Vec<u64>>> {
        let mut m = prefix.to_vec();
        let mut rem = col_rem.to_vec();
        while m.len() < self.rows.len() {
            let (row, rest) = self.children(m.len(), &rem).into_iter().next()?;
            m.push(row);
            rem = rest;
        }
        rem.iter().all(|&c| c == 1).then_some(m)
    }

    /// The placement index of a full matrix that fits the spec: the number of
    /// placements before it in index order.
    pub fn index_of(&mut self, matrix: &[Vec<u64>]) -> u128 {
        let mut rem = self.cols.clone();
        let mut index = 0u128;
        for (a, row) in matrix.iter().enumerate() {
            for other in self.rows_of(a, &rem) {
                if other == *row {
                    break;
                }
                let rest = divide(&rem, &other);
                index = index.saturating_add(self.completions(a + 1, &rest));
            }
            rem = divide(&rem, row);
        }
        index
    }
}

impl Tree {
    /// The matrix of placement `index` (in index order), `None` when the spec has
    /// no more than `index` placements. Walks down the tree, skipping whole
    /// subtrees by their completion counts: no placement is listed.
    pub fn nth(&mut self, index: u128) -> Option<Vec<Vec<u64>>> {
        let mut left = index;
        let mut m = Vec::with_capacity(self.rows.len());
        let mut rem = self.cols.clone();
        while m.len() < self.rows.len() {
            let a = m.len();
            let mut chosen = None;
            for (row, rest) in self.children(a, &rem) {
                let n = self.completions(a + 1, &rest);
                if left < n {
                    chosen = Some((row, rest));
                    break;
                }
                left -= n;
            }
            let (row, rest) = chosen?;
            m.push(row);
            rem = rest;
        }
        (left == 0 && rem.iter().all(|&c| c == 1)).then_some(m)
    }
}

/// `col_rem / row`, entry by entry.
pub fn divide(col_rem: &[u64], row: &[u64]) -> Vec<u64> {
    col_rem.iter().zip(row).map(|(c, x)| c / x).collect()
}

fn row_rec(l: usize, rem: u64, col_rem: &[u64], row: &mut [u64], out: &mut Vec<Vec<u64>>) {
    if col_rem.is_empty() {
        if rem == 1 {
            out.push(Vec::new());
        }
        return;
    }
    if l + 1 == col_rem.len() {
        if col_rem[l].is_multiple_of(rem) {
            row[l] = rem;
            out.push(row.to_vec());
        }
        return;
    }
    for v in super::divisors(gcd(rem, col_rem[l])) {
        row[l] = v;
        row_rec(l + 1, rem / v, col_rem, row, out);
    }
    row[l] = 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement;

    fn spec(text: &str) -> Spec {
        crate::spec::parse(&crate::source::Source::new("t.toml", text), None).expect("a valid spec")
    }

    /// Counting, first completions and indices agree with the full enumeration.
    #[test]
    fn agrees_with_the_enumeration() {
        let specs = [
            Spec::embedded_default(),
            spec(
                "axes = [{ name = \"a\", size = 8 }, { name = \"b\", size = 4 }, { name = \"c\", size = 6 }]\n\
                 [system]\nname = \"s\"\nlevels = [\n\
                 { name = \"x\", arity = 4, bandwidth = \"25 GB/s\", latency = \"5 us\" },\n\
                 { name = \"y\", arity = 12, bandwidth = \"50 GB/s\", latency = \"2 us\" },\n\
                 { name = \"z\", arity = 4, bandwidth = \"100 GB/s\", latency = \"1 us\" },\n]\n",
            ),
        ];
        for spec in specs {
            let all = placement::enumerate(&spec);
            let mut tree = Tree::new(&spec);
            assert_eq!(tree.count(), all.len() as u128);
            for (i, m) in all.iter().enumerate() {
                assert_eq!(tree.index_of(m), i as u128, "{m:?}");
            }
            for (i, m) in all.iter().enumerate() {
                assert_eq!(tree.nth(i as u128).as_ref(), Some(m), "placement {i}");
            }
            assert_eq!(tree.nth(all.len() as u128), None);
            let cols = tree.cols.clone();
            assert_eq!(tree.first_completion(&[], &cols).as_ref(), all.first());
            // The first completion of every depth-1 prefix is the first matrix with
            // that row.
            for (row, rest) in tree.children(0, &cols) {
                let first = tree.first_completion(std::slice::from_ref(&row), &rest);
                assert_eq!(first.as_ref(), all.iter().find(|m| m[0] == row));
            }
        }
    }
}
