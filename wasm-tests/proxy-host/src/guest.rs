//! Reading and writing the guest's linear memory from inside a hostcall, with every pointer
//! and length checked: a bad one is `INVALID_MEMORY_ACCESS`, never a host crash.

use wasmtime::Caller;

use crate::abi::Status;
use crate::state::HostData;

/// Why a hostcall stopped: a status for the guest, or a trap (the guest's allocator trapped,
/// or the host refuses to go on).
pub enum Fail {
    Status(Status),
    Trap(wasmtime::Error),
}

impl From<Status> for Fail {
    fn from(s: Status) -> Fail {
        Fail::Status(s)
    }
}

pub type HostcallResult = Result<Status, Fail>;

/// The i32 a hostcall returns to the guest, or the trap it raises.
pub fn finish(r: HostcallResult) -> wasmtime::Result<i32> {
    match r {
        Ok(s) | Err(Fail::Status(s)) => Ok(s.code()),
        Err(Fail::Trap(e)) => Err(e),
    }
}

/// Guest pointers and sizes are `u32` carried in wasm `i32`s.
pub fn u(v: i32) -> usize {
    v as u32 as usize
}

pub fn read(c: &mut Caller<'_, HostData>, ptr: i32, len: i32) -> Result<Vec<u8>, Fail> {
    let (ptr, len) = (u(ptr), u(len));
    if len == 0 {
        return Ok(Vec::new());
    }
    let memory = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let data = memory.data(&*c);
    let end = ptr.checked_add(len).ok_or(Status::InvalidMemoryAccess)?;
    Ok(data
        .get(ptr..end)
        .ok_or(Status::InvalidMemoryAccess)?
        .to_vec())
}

pub fn read_string(c: &mut Caller<'_, HostData>, ptr: i32, len: i32) -> Result<String, Fail> {
    String::from_utf8(read(c, ptr, len)?).map_err(|_| Fail::Status(Status::BadArgument))
}

pub fn write(c: &mut Caller<'_, HostData>, ptr: i32, bytes: &[u8]) -> Result<(), Fail> {
    let memory = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    memory
        .write(&mut *c, u(ptr), bytes)
        .map_err(|_| Fail::Status(Status::InvalidMemoryAccess))
}

pub fn write_u32(c: &mut Caller<'_, HostData>, ptr: i32, v: u32) -> Result<(), Fail> {
    write(c, ptr, &v.to_le_bytes())
}

pub fn write_u64(c: &mut Caller<'_, HostData>, ptr: i32, v: u64) -> Result<(), Fail> {
    write(c, ptr, &v.to_le_bytes())
}

/// Hand `bytes` to the guest: memory from the module's own allocator
/// (`proxy_on_memory_allocate`, else `malloc`), its address and size written to `ptr_ptr` and
/// `size_ptr`. Nothing is allocated for an empty value: the guest gets a null pointer and 0.
pub fn copy_out(
    c: &mut Caller<'_, HostData>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> Result<(), Fail> {
    // Check the result slots before calling into the guest.
    check_writable(c, ptr_ptr, 4)?;
    check_writable(c, size_ptr, 4)?;
    let addr = if bytes.is_empty() {
        0
    } else {
        let size = i32::try_from(bytes.len()).map_err(|_| Status::InvalidMemoryAccess)?;
        let allocate = c
            .data()
            .allocate
            .clone()
            .ok_or(Status::InvalidMemoryAccess)?;
        let saved = c.data().current;
        c.data_mut().current = Some((crate::state::Callback::MemoryAllocate, 0));
        let result = allocate.call(&mut *c, size);
        c.data_mut().current = saved;
        let addr = result.map_err(Fail::Trap)?;
        if addr == 0 {
            return Err(Fail::Status(Status::InvalidMemoryAccess));
        }
        write(c, addr, bytes)?;
        addr
    };
    write_u32(c, ptr_ptr, addr as u32)?;
    write_u32(c, size_ptr, u32::try_from(bytes.len()).unwrap_or(u32::MAX))
}

fn check_writable(c: &mut Caller<'_, HostData>, ptr: i32, len: usize) -> Result<(), Fail> {
    let memory = c.data().memory.ok_or(Status::InvalidMemoryAccess)?;
    let size = memory.data_size(&*c);
    match u(ptr).checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Fail::Status(Status::InvalidMemoryAccess)),
    }
}
