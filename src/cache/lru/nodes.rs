//! The store's node arena: a `Vec` of cells, each holding a node or, vacant, the index
//! of the next vacant cell (a free list), so indices stay put and a removed node's cell
//! is the next one handed out. What the `slab` crate does, written here so that every
//! operation inlines into the store's paths and moves no more of a node than it must.

use std::ops::{Index, IndexMut};

/// An arena of `T`s, addressed by index.
pub(super) struct Nodes<T> {
    /// The cells; vacant ones chain through `free`.
    cells: Vec<Cell<T>>,
    /// The first vacant cell, or `cells.len()` when there is none.
    free: usize,
}

/// One cell of [`Nodes`].
enum Cell<T> {
    /// A node.
    Full(T),
    /// Vacant: the next vacant cell, or the cells' length at the end of the chain.
    Vacant(usize),
}

impl<T> Nodes<T> {
    /// An empty arena.
    pub(super) const fn new() -> Self {
        Nodes {
            cells: Vec::new(),
            free: 0,
        }
    }

    /// The number of nodes (counted: only checks ask, so the arena keeps no count).
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub(super) fn len(&self) -> usize {
        self.iter().count()
    }

    /// The number of cells, full or vacant: every index handed out is below it.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub(super) fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// Puts `value` in a vacant cell (the last one freed) and returns its index.
    #[inline(always)]
    pub(super) fn insert(&mut self, value: T) -> usize {
        let idx = self.free;
        match self.cells.get_mut(idx) {
            Some(cell) => {
                let Cell::Vacant(next) = *cell else {
                    unreachable!("the free list leads to a full cell {idx}")
                };
                self.free = next;
                *cell = Cell::Full(value);
            }
            None => {
                self.cells.push(Cell::Full(value));
                self.free = self.cells.len();
            }
        }
        idx
    }

    /// Takes the node at `idx` out, leaving its cell vacant. Panics if there is none.
    #[inline(always)]
    #[track_caller]
    pub(super) fn remove(&mut self, idx: usize) -> T {
        let free = self.free;
        let cell = match self.cells.get_mut(idx) {
            Some(cell @ Cell::Full(_)) => cell,
            _ => no_node(idx),
        };
        let Cell::Full(value) = std::mem::replace(cell, Cell::Vacant(free)) else {
            unreachable!("checked full above")
        };
        self.free = idx;
        value
    }

    /// The node at `idx`, if there is one.
    #[inline(always)]
    pub(super) fn get(&self, idx: usize) -> Option<&T> {
        match self.cells.get(idx) {
            Some(Cell::Full(value)) => Some(value),
            _ => None,
        }
    }

    /// Whether there is a node at `idx`.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub(super) fn contains(&self, idx: usize) -> bool {
        self.get(idx).is_some()
    }

    /// Drops every node, keeping the allocation. A panic in a node's `Drop` leaves the
    /// arena empty and valid (`Vec::clear` takes the length to 0 before it drops, and
    /// drops the rest after a panic).
    pub(super) fn clear(&mut self) {
        self.free = 0;
        self.cells.clear();
    }

    /// Checks the free list: it visits every vacant cell once, and nothing else, and
    /// ends at the cells' end.
    #[cfg(any(test, fuzzing))]
    pub(super) fn validate(&self) {
        let mut seen = vec![false; self.cells.len()];
        let (mut cur, mut vacant) = (self.free, 0);
        while cur != self.cells.len() {
            match self.cells.get(cur) {
                Some(Cell::Vacant(next)) => {
                    assert!(!seen[cur], "the free list loops at {cur}");
                    seen[cur] = true;
                    vacant += 1;
                    cur = *next;
                }
                Some(Cell::Full(_)) => panic!("the free list leads to a full cell {cur}"),
                None => panic!("the free list leads past the end, to {cur}"),
            }
        }
        assert_eq!(
            vacant + self.len(),
            self.cells.len(),
            "vacant cells off the free list, or a wrong count"
        );
    }

    /// The nodes and their indices, in index order.
    #[cfg_attr(not(any(test, fuzzing)), allow(dead_code))]
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.cells
            .iter()
            .enumerate()
            .filter_map(|(idx, cell)| match cell {
                Cell::Full(value) => Some((idx, value)),
                Cell::Vacant(_) => None,
            })
    }
}

impl<T> Index<usize> for Nodes<T> {
    type Output = T;

    #[inline(always)]
    #[track_caller]
    fn index(&self, idx: usize) -> &T {
        match self.cells.get(idx) {
            Some(Cell::Full(value)) => value,
            _ => no_node(idx),
        }
    }
}

impl<T> IndexMut<usize> for Nodes<T> {
    #[inline(always)]
    #[track_caller]
    fn index_mut(&mut self, idx: usize) -> &mut T {
        match self.cells.get_mut(idx) {
            Some(Cell::Full(value)) => value,
            _ => no_node(idx),
        }
    }
}

/// The panic of an index with no node: a broken link of the store's.
#[cold]
#[inline(never)]
#[track_caller]
fn no_node(idx: usize) -> ! {
    panic!("no node at {idx}")
}

#[cfg(test)]
mod tests {
    use super::Nodes;

    #[test]
    fn a_freed_cell_is_the_next_one_handed_out_and_indices_stay_put() {
        let mut nodes = Nodes::new();
        let (a, b, c) = (nodes.insert("a"), nodes.insert("b"), nodes.insert("c"));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(nodes.remove(b), "b");
        assert_eq!(nodes.remove(a), "a");
        assert_eq!((nodes.len(), nodes.get(a), nodes.get(b)), (1, None, None));
        // Last freed, first reused; then the one freed before it; then a new cell.
        assert_eq!(nodes.insert("d"), a);
        assert_eq!(nodes.insert("e"), b);
        assert_eq!(nodes.insert("f"), 3);
        assert_eq!(nodes[c], "c");
        nodes[c] = "g";
        nodes.validate();
        let all: Vec<_> = nodes.iter().map(|(i, n)| (i, *n)).collect();
        assert_eq!(all, [(0, "d"), (1, "e"), (2, "g"), (3, "f")]);
        nodes.clear();
        assert_eq!(
            (nodes.len(), nodes.capacity(), nodes.insert("h")),
            (0, 0, 0)
        );
    }

    #[test]
    #[should_panic(expected = "no node at 1")]
    fn removing_a_vacant_cell_panics() {
        let mut nodes = Nodes::new();
        nodes.insert(1);
        nodes.insert(2);
        nodes.remove(1);
        nodes.remove(1);
    }

    #[test]
    #[should_panic(expected = "no node at 5")]
    fn indexing_past_the_end_panics() {
        let nodes: Nodes<u8> = Nodes::new();
        let _ = nodes[5];
    }
}
