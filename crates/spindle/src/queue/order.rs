// Layer 8 (queue): Python's queues, over the waiting path and the primitives.
//! The three orderings a queue can keep its items in: the only part in which `Queue`,
//! `LifoQueue` and `PriorityQueue` differ (as CPython's `_init`, `_put`, `_get`, `_qsize`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Where a queue keeps its items, and which one comes out next.
pub(crate) trait Order: Default {
    type Item;

    /// The queue type's name, for reports and panic messages.
    const KIND: &'static str;

    fn push(&mut self, item: Self::Item);

    /// The next item to hand out, if any.
    fn pop(&mut self) -> Option<Self::Item>;

    fn len(&self) -> usize;

    /// How many items fit without growing.
    fn capacity(&self) -> usize;

    /// Gives memory back, keeping room for at least `min` items.
    fn shrink_to(&mut self, min: usize);
}

/// First in, first out.
pub(crate) struct Fifo<T>(VecDeque<T>);

/// Last in, first out.
pub(crate) struct Lifo<T>(Vec<T>);

/// Smallest first: `BinaryHeap` is a max-heap, so items go in reversed.
pub(crate) struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T> Order for Fifo<T> {
    type Item = T;
    const KIND: &'static str = "Queue";

    #[inline]
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    fn shrink_to(&mut self, min: usize) {
        self.0.shrink_to(min);
    }
}

impl<T> Order for Lifo<T> {
    type Item = T;
    const KIND: &'static str = "LifoQueue";

    #[inline]
    fn push(&mut self, item: T) {
        self.0.push(item);
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    fn shrink_to(&mut self, min: usize) {
        self.0.shrink_to(min);
    }
}

impl<T: Ord> Order for Priority<T> {
    type Item = T;
    const KIND: &'static str = "PriorityQueue";

    #[inline]
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }

    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.0.capacity()
    }

    fn shrink_to(&mut self, min: usize) {
        self.0.shrink_to(min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<O: Order>(items: impl IntoIterator<Item = O::Item>) -> Vec<O::Item> {
        let mut order = O::default();
        for item in items {
            order.push(item);
        }
        assert_eq!(order.len(), 3);
        std::iter::from_fn(|| order.pop()).collect()
    }

    #[test]
    fn each_order_hands_items_out_as_python_does() {
        // CPython's test_queue: put 111, 333, 222.
        assert_eq!(drain::<Fifo<_>>([111, 333, 222]), [111, 333, 222]);
        assert_eq!(drain::<Lifo<_>>([111, 333, 222]), [222, 333, 111]);
        assert_eq!(drain::<Priority<_>>([111, 333, 222]), [111, 222, 333]);
    }
}
