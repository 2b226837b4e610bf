//! The host calls whose answers differ between proxy-wasm hosts, and the header-map calls, made
//! directly so that every status comes back as a value and header values stay bytes.
//!
//! The SDK's wrappers `panic!` — trap the VM, failing every request of the worker — on any
//! status they do not expect, and read the status into an enum that cannot hold codes newer
//! than the SDK. Properties and filter state are where hosts differ most (a host without
//! filter state may answer `Unimplemented` or `NotFound` to `set_property`), so these calls
//! are declared here, with the status as a plain number. The SDK's header-map wrappers also
//! `unwrap` each value as UTF-8, but HTTP allows obs-text (0x80–0xFF) in values and Envoy
//! passes it on: one `café` in Latin-1 would trap the VM. Here values are bytes.
#![allow(unsafe_code)]

use std::ptr;

/// `Ok` in the proxy-wasm ABI; every other status is a failure the caller degrades on.
const OK: u32 = 0;
const NOT_FOUND: u32 = 1;
/// Buffers are sized from lengths up to this; beyond it they grow as written.
const CAPACITY_HINT_MAX: usize = 1 << 16;

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
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_set_header_map_pairs(map_type: u32, map_data: *const u8, map_size: usize) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
}

/// The header maps of the ABI the filter reads or writes.
#[derive(Clone, Copy)]
pub enum HeaderMap {
    Request = 0,
    Response = 2,
    HttpCallResponse = 6,
}

/// Take ownership of a buffer the host filled through `proxy_on_memory_allocate`.
///
/// SAFETY: `data` must be null or the pointer the host got from the SDK's
/// `proxy_on_memory_allocate(size)` (a boxed slice of exactly `size` bytes) and filled.
unsafe fn host_buffer(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() || size == 0 {
        return Vec::new();
    }
    // SAFETY: see the function's contract.
    unsafe { Vec::from_raw_parts(data, size, size) }
}

/// A whole header map: names as text (HTTP names are tokens), values as bytes.
pub fn get_header_map(map: HeaderMap) -> Result<Vec<(String, Vec<u8>)>, u32> {
    let mut data: *mut u8 = ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes the two out-parameters.
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    match status {
        // SAFETY: on Ok the buffer came from proxy_on_memory_allocate(size).
        OK => Ok(decode_map(&unsafe { host_buffer(data, size) })),
        NOT_FOUND => Ok(Vec::new()),
        other => Err(other),
    }
}

/// Replace a whole header map.
pub fn set_header_map(map: HeaderMap, pairs: &[(&str, &[u8])]) -> Result<(), u32> {
    let bytes = encode_map(pairs);
    // SAFETY: the buffer outlives the call, which only reads it.
    let status = unsafe { proxy_set_header_map_pairs(map as u32, bytes.as_ptr(), bytes.len()) };
    if status == OK { Ok(()) } else { Err(status) }
}

/// The ABI's map format: a u32 count, then a (name length, value length) u32 pair per entry,
/// then each name and value followed by a NUL byte; numbers little-endian. A malformed map
/// yields the entries read before the fault.
fn decode_map(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let word = |at: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        let arr: [u8; 4] = b.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(arr)).ok()
    };
    let Some(count) = word(0) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(count.min(256));
    let mut data = 4usize.saturating_add(count.saturating_mul(8));
    for i in 0..count {
        let Some(at) = i.checked_mul(8).and_then(|x| x.checked_add(4)) else {
            break;
        };
        let (Some(name_len), Some(value_len)) = (word(at), word(at.saturating_add(4))) else {
            break;
        };
        let name_end = data.saturating_add(name_len);
        let value_start = name_end.saturating_add(1);
        let value_end = value_start.saturating_add(value_len);
        let (Some(name), Some(value)) =
            (bytes.get(data..name_end), bytes.get(value_start..value_end))
        else {
            break;
        };
        out.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        data = value_end.saturating_add(1);
    }
    out
}

fn encode_map(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    // Only a capacity hint: saturating and capped, so no length can turn into a panic.
    let size = pairs.iter().fold(4usize, |acc, (n, v)| {
        acc.saturating_add(8)
            .saturating_add(n.len())
            .saturating_add(v.len())
            .saturating_add(2)
    });
    let mut out = Vec::with_capacity(size.min(CAPACITY_HINT_MAX));
    out.extend_from_slice(&len(pairs.len()));
    for (n, v) in pairs {
        out.extend_from_slice(&len(n.len()));
        out.extend_from_slice(&len(v.len()));
    }
    for (n, v) in pairs {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// A property path as the ABI wants it: the parts joined by NUL bytes.
fn property_path(path: &[&str]) -> Vec<u8> {
    let size = path.iter().fold(0usize, |acc, p| {
        acc.saturating_add(p.len()).saturating_add(1)
    });
    let mut out = Vec::with_capacity(size.min(CAPACITY_HINT_MAX));
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
        // SAFETY: on Ok the buffer came from proxy_on_memory_allocate(size).
        OK => Ok(Some(unsafe { host_buffer(data, size) })),
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

/// `CasMismatch` in the ABI: the shared-data key was written since it was read.
pub const CAS_MISMATCH: u32 = 8;

/// A shared-data value and its compare-and-swap token; `Ok(None)` for a key never written.
pub fn get_shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, u32> {
    let mut data: *mut u8 = ptr::null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: the key outlives the call; the host writes the three out-parameters.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        // SAFETY: on Ok the buffer came from proxy_on_memory_allocate(size).
        OK => Ok(Some((unsafe { host_buffer(data, size) }, cas))),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

/// Write a shared-data value if the key is still at `cas` (0: whatever is there).
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    // SAFETY: both buffers outlive the call, which only reads them.
    let status =
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
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
