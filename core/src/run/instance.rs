//! [`Instance`]: one runnable occurrence of a step. A step runs once,
//! except a map's sub-step, which runs once per item.

use petgraph::graph::NodeIndex;

/// A step (`item: None`) or one item of a map's sub-step (`node` is the
/// sub-step, `item` the 0-based index into the map's `over` array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Instance {
    pub(super) node: NodeIndex,
    pub(super) item: Option<usize>,
}

impl Instance {
    pub(super) fn step(node: NodeIndex) -> Self {
        Self { node, item: None }
    }

    pub(super) fn item(node: NodeIndex, index: usize) -> Self {
        Self { node, item: Some(index) }
    }
}
