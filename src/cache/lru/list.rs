//! The store's recency list: live nodes linked by index, head = most recently used,
//! tail = least recently used: moving a node to the head on a hit ([`touch`]), taking
//! one out, and linking one in (`fulfil` writes a new node's own links itself, with the
//! node at hand, then calls [`put_head`](Lru::put_head)).
//!
//! [`touch`]: Lru::touch

use super::{Lru, NIL, Node};

impl<K, V, P> Lru<K, V, P> {
    /// Makes the node at `idx` the most recently used.
    ///
    /// `unlink` + `push_front` fused for the `get` hit path: one node lookup reads and
    /// rewrites the node's links, and a node behind the head needs no empty-list checks.
    #[inline(always)]
    pub(super) fn touch(&mut self, idx: usize) {
        let old_head = self.head;
        // The common case for hot keys: already the head, nothing to write.
        if old_head == idx {
            return;
        }
        let node = &mut self.nodes[idx];
        let (prev, next) = (node.prev, node.next);
        node.prev = NIL;
        node.next = old_head;
        // Not the head, so `prev` is a live node; `next` is NIL for the tail.
        debug_assert_ne!(prev, NIL, "a node behind the head has no prev");
        self.nodes[prev].next = next;
        if next == NIL {
            debug_assert_eq!(self.tail, idx, "a node without next must be the tail");
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.nodes[old_head].prev = idx;
        self.head = idx;
    }

    /// Takes a node, removed from the arena, out of the list, joining its neighbours.
    #[inline(always)]
    pub(super) fn unlink_node(&mut self, node: &Node<K, V, P>) {
        self.join(node.prev, node.next);
    }

    /// Takes the node at `idx` out of the list, joining its neighbours; its own
    /// links are left stale for `push_front` or removal to overwrite.
    #[inline]
    pub(super) fn unlink(&mut self, idx: usize) {
        let Node { prev, next, .. } = self.nodes[idx];
        debug_assert!(
            if prev == NIL {
                self.head == idx
            } else {
                self.nodes[prev].next == idx
            },
            "broken link before node {idx}"
        );
        debug_assert!(
            if next == NIL {
                self.tail == idx
            } else {
                self.nodes[next].prev == idx
            },
            "broken link after node {idx}"
        );
        self.join(prev, next);
    }

    /// Links `prev` and `next` (either `NIL`: the list's end) to each other, as the
    /// node between them leaves.
    #[inline(always)]
    fn join(&mut self, prev: usize, next: usize) {
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
    }

    /// Links the (unlinked) node at `idx` in as the head.
    #[inline(always)]
    pub(super) fn push_front(&mut self, idx: usize) {
        let old_head = self.head;
        let node = &mut self.nodes[idx];
        node.prev = NIL;
        node.next = old_head;
        self.put_head(idx, old_head);
    }

    /// The rest of [`push_front`](Self::push_front), the node's own links written
    /// (`NIL`, `old_head`): makes it the head, before `old_head`.
    #[inline(always)]
    pub(super) fn put_head(&mut self, idx: usize, old_head: usize) {
        if old_head == NIL {
            // The list was empty: the node is also the tail.
            debug_assert_eq!(self.tail, NIL, "an empty list has no tail");
            self.tail = idx;
        } else {
            debug_assert_eq!(self.nodes[old_head].prev, NIL, "the head has a prev");
            self.nodes[old_head].prev = idx;
        }
        self.head = idx;
    }
}
