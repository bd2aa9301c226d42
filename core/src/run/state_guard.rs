//! Writers of one shared-state key never in flight together.
//!
//! Compiling orders two distinct steps that write one key with no path
//! between them (an ordering edge, see `compile/state_writes.rs`), so
//! top-level writers are ordered by the DAG already. What it cannot order
//! are the instances of one step that run side by side: the items of a map
//! whose sub-step declares `stateWrites`. The guard is
//! general anyway (it costs nothing for steps without `stateWrites`): an
//! instance whose keys overlap a writer in flight waits, a map item queued,
//! a step pending, until that writer finishes and wakes it.

use petgraph::graph::NodeIndex;

use super::instance::Instance;
use super::tx::Tx;

impl Tx<'_> {
    /// The shared-state keys `node` declares it writes.
    fn writes_of(&self, node: NodeIndex) -> Option<&[String]> {
        self.wf.step(node).map(|s| s.shared().state_writes.as_slice())
    }

    /// True when `inst` writes a key that an instance in flight writes too.
    pub(super) fn write_blocked(&self, inst: Instance) -> bool {
        if self.run.writing.is_empty() {
            return false;
        }
        let Some(keys) = self.writes_of(inst.node).filter(|k| !k.is_empty()) else {
            return false;
        };
        self.run.writing.iter().any(|&other| {
            other != inst && self.writes_of(other.node).is_some_and(|w| w.iter().any(|k| keys.contains(k)))
        })
    }

    /// A writer of `node`'s keys finished: queue every step that writes one
    /// of them (a map sub-step through its map, which starts queued items).
    pub(super) fn wake_writers(&mut self, node: NodeIndex) {
        let Some(keys) = self.writes_of(node).map(<[String]>::to_vec) else { return };
        let waiting: Vec<NodeIndex> = self
            .wf
            .steps()
            .map(|(v, _)| v)
            .filter(|&v| self.writes_of(v).is_some_and(|w| w.iter().any(|k| keys.contains(k))))
            .collect();
        for v in waiting {
            match self.run.template_owner(v) {
                Some(_) => self.work.extend(self.wf.step(v).and_then(|s| s.parent())),
                None => {
                    self.work.insert(v);
                }
            }
        }
    }
}
