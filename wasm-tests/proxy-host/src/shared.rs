//! Shared data as Envoy keeps it: one store for the whole process, every VM with the same
//! `vm_id` sees the same keys (proxy-wasm-cpp-host's `SharedData`, partitioned by vm_id).
//!
//! Envoy runs one VM per worker thread; the workers of one plugin share its `vm_id` and so
//! its shared data. Hand one [`SharedData`] to several hosts ([`crate::HostBuilder::shared_data`],
//! or [`crate::HostBuilder::load_workers`]) and they behave as those workers do.
//!
//! The semantics are Envoy's:
//! - get of a key never written: NotFound;
//! - set with cas 0: written whatever is there;
//! - set of a key that does not exist: written, whatever the cas;
//! - set of an existing key with another cas: CasMismatch, nothing written;
//! - every write takes the next value of one process-wide counter as its cas (starting at 1,
//!   never 0), so a key's cas only ever increases.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::abi::Status;

/// Something another worker does at a chosen moment: run when a VM is about to write a key,
/// between its read and its write (see [`SharedData::before_write`]).
pub type WriteHook = Box<dyn FnOnce() + Send>;

/// A process's shared data. Cloning hands out the same store.
#[derive(Clone, Default)]
pub struct SharedData(Arc<Inner>);

#[derive(Default)]
struct Inner {
    store: Mutex<Store>,
    /// Kept apart from the store: a hook runs with no lock held, so it may drive other VMs.
    hooks: Mutex<Vec<(String, WriteHook)>>,
}

struct Store {
    /// vm_id → key → (value, cas).
    data: HashMap<String, HashMap<String, (Vec<u8>, u32)>>,
    next_cas: u32,
    stats: SharedDataStats,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            data: HashMap::new(),
            next_cas: 1,
            stats: SharedDataStats::default(),
        }
    }
}

/// What the VMs did with the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedDataStats {
    pub gets: u64,
    pub sets: u64,
    /// Writes refused with CasMismatch.
    pub cas_mismatches: u64,
}

impl std::fmt::Debug for SharedData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedData")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl SharedData {
    pub fn new() -> SharedData {
        SharedData::default()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.0.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `proxy_get_shared_data` of a VM with `vm_id`: the value and its cas.
    pub fn get(&self, vm_id: &str, key: &str) -> Result<(Vec<u8>, u32), Status> {
        let mut store = self.store();
        store.stats.gets += 1;
        store
            .data
            .get(vm_id)
            .and_then(|m| m.get(key))
            .cloned()
            .ok_or(Status::NotFound)
    }

    /// `proxy_set_shared_data` of a VM with `vm_id`. Hooks waiting for `key` run first, with
    /// no lock held (as if another worker wrote just before this one).
    pub fn set(&self, vm_id: &str, key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
        for hook in self.take_hooks(key) {
            hook();
        }
        let mut guard = self.store();
        let store = &mut *guard;
        store.stats.sets += 1;
        let next = store.next_cas;
        let map = store.data.entry(vm_id.to_string()).or_default();
        match map.get_mut(key) {
            Some(entry) => {
                if cas != 0 && cas != entry.1 {
                    store.stats.cas_mismatches += 1;
                    return Err(Status::CasMismatch);
                }
                *entry = (value.to_vec(), next);
            }
            None => {
                map.insert(key.to_string(), (value.to_vec(), next));
            }
        }
        // 0 is not a cas value.
        store.next_cas = next.wrapping_add(1).max(1);
        Ok(())
    }

    fn take_hooks(&self, key: &str) -> Vec<WriteHook> {
        let mut hooks = self.0.hooks.lock().unwrap_or_else(|e| e.into_inner());
        let (due, rest): (Vec<_>, Vec<_>) = hooks.drain(..).partition(|(k, _)| k == key);
        *hooks = rest;
        due.into_iter().map(|(_, h)| h).collect()
    }

    /// Run `hook` once, the next time any VM writes `key` (before that write is applied): what
    /// another worker does between one worker's read of the key and its write, to force a
    /// compare-and-swap conflict. The hook may write the store and drive other hosts (no lock
    /// is held), but not the host whose write it interrupts (that one is mid-callback).
    pub fn before_write(&self, key: &str, hook: impl FnOnce() + Send + 'static) {
        self.0
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key.to_string(), Box::new(hook)));
    }

    /// Hooks registered and not run yet.
    pub fn pending_hooks(&self) -> usize {
        self.0.hooks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A key's value and cas as the VMs of `vm_id` see it (no hook runs, nothing counted).
    pub fn entry(&self, vm_id: &str, key: &str) -> Option<(Vec<u8>, u32)> {
        self.store()
            .data
            .get(vm_id)
            .and_then(|m| m.get(key))
            .cloned()
    }

    /// Every key of `vm_id` with its value, in key order.
    pub fn entries(&self, vm_id: &str) -> BTreeMap<String, Vec<u8>> {
        self.store()
            .data
            .get(vm_id)
            .map(|m| m.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    pub fn stats(&self) -> SharedDataStats {
        self.store().stats
    }
}
