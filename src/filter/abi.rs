//! The host calls whose answers differ between proxy-wasm hosts, made directly so that every
//! status comes back as a value.
//!
//! The SDK's wrappers `panic!` — trap the VM, failing every request of the worker — on any
//! status they do not expect, and read the status into an enum that cannot hold codes newer
//! than the SDK. Properties and filter state are where hosts differ most (a host without
//! filter state may answer `Unimplemented` or `NotFound` to `set_property`), so these calls
//! are declared here, with the status as a plain number.
#![allow(unsafe_code)]

use std::ptr;

/// `Ok` in the proxy-wasm ABI; every other status is a failure the caller degrades on.
const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_set_property(
        path_data: *const u8,
        path_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
}

/// A property path as the ABI wants it: the parts joined by NUL bytes.
fn property_path(path: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.iter().map(|p| p.len() + 1).sum());
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// A property's value: `Ok(None)` when the host has none, `Err(status)` when it refused.
pub fn get_property(path: &[&str]) -> Result<Option<Vec<u8>>, u32> {
    let path = property_path(path);
    let mut data: *mut u8 = ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the path buffer outlives the call; the host writes the two out-parameters.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    match status {
        OK if data.is_null() || size == 0 => Ok(None),
        // SAFETY: on Ok the host has filled a buffer of `size` bytes that it obtained from the
        // SDK's `proxy_on_memory_allocate` (a boxed slice of exactly `size` bytes), so the
        // filter owns it and may free it as a Vec of that length and capacity.
        OK => Ok(Some(unsafe { Vec::from_raw_parts(data, size, size) })),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

/// Set a property (Envoy: filter state `wasm.<name>`); `Err(status)` when the host refused.
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), u32> {
    let path = property_path(path);
    // SAFETY: both buffers outlive the call, which only reads them.
    let status =
        unsafe { proxy_set_property(path.as_ptr(), path.len(), value.as_ptr(), value.len()) };
    if status == OK { Ok(()) } else { Err(status) }
}

/// Define a counter, returning its id; `Err(status)` when the host has no such metrics.
pub fn define_counter(name: &str) -> Result<u32, u32> {
    /// `MetricType::Counter` in the ABI.
    const COUNTER: u32 = 0;
    let mut id: u32 = 0;
    // SAFETY: the name outlives the call; the host writes the id.
    let status = unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) };
    if status == OK { Ok(id) } else { Err(status) }
}
