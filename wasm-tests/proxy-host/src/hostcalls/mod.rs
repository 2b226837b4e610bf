//! The `env` module: every Proxy-Wasm ABI v0.2.1 hostcall (v0.2.0 has the same set).
//!
//! Each one checks its pointers, answers the spec's status codes and records what tests need.
//! gRPC is the one part not implemented: those calls trap with a message naming the call, so a
//! filter that starts using them is caught here rather than passing unnoticed.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use crate::abi::{LogLevel, Status};
use crate::guest::{HostcallResult, finish, read, write_u32, write_u64};
use crate::state::{HostData, LogLine};

type C<'a> = Caller<'a, HostData>;

/// Every hostcall name this host defines in `env`.
pub const IMPLEMENTED: &[&str] = &[
    "proxy_log",
    "proxy_get_log_level",
    "proxy_get_current_time_nanoseconds",
    "proxy_set_tick_period_milliseconds",
    "proxy_get_buffer_bytes",
    "proxy_get_buffer_status",
    "proxy_set_buffer_bytes",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_size",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_property",
    "proxy_set_property",
    "proxy_get_shared_data",
    "proxy_set_shared_data",
    "proxy_register_shared_queue",
    "proxy_resolve_shared_queue",
    "proxy_enqueue_shared_queue",
    "proxy_dequeue_shared_queue",
    "proxy_continue_stream",
    "proxy_close_stream",
    "proxy_send_local_response",
    "proxy_http_call",
    "proxy_get_status",
    "proxy_set_effective_context",
    "proxy_call_foreign_function",
    "proxy_done",
    "proxy_define_metric",
    "proxy_increment_metric",
    "proxy_record_metric",
    "proxy_get_metric",
];

/// Defined so that modules importing them link, but trapping when called.
pub const TRAPPING: &[&str] = &[
    "proxy_grpc_call",
    "proxy_grpc_stream",
    "proxy_grpc_send",
    "proxy_grpc_cancel",
    "proxy_grpc_close",
];

/// Define `env.$name`: count the call, run the body, hand its status back (or trap).
macro_rules! hostcall {
    ($linker:expr, $name:literal, |$c:ident $(, $arg:ident : $ty:ty)*| $body:expr) => {
        $linker.func_wrap("env", $name, |mut $c: C<'_> $(, $arg: $ty)*| -> wasmtime::Result<i32> {
            $c.data_mut().count($name);
            // The closure gives the body's `?` somewhere to return to.
            #[allow(clippy::redundant_closure_call)]
            let r: HostcallResult = (|| $body)();
            finish(r)
        })?;
    };
}

mod http;
mod shared;

pub fn add_to_linker(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(linker, "proxy_log", |c, level: i32, ptr: i32, len: i32| {
        let level = LogLevel::from_abi(level as u32).ok_or(Status::BadArgument)?;
        let message = String::from_utf8_lossy(&read(&mut c, ptr, len)?).into_owned();
        let context_id = c.data().effective_context;
        c.data_mut().logs.push(LogLine {
            level,
            context_id,
            message,
        });
        Ok(Status::Ok)
    });
    hostcall!(linker, "proxy_get_log_level", |c, ret: i32| {
        let level = c.data().log_level as u32;
        write_u32(&mut c, ret, level)?;
        Ok(Status::Ok)
    });
    hostcall!(
        linker,
        "proxy_get_current_time_nanoseconds",
        |c, ret: i32| {
            let nanos = u64::try_from(c.data().clock.since_epoch().as_nanos()).unwrap_or(u64::MAX);
            write_u64(&mut c, ret, nanos)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_set_tick_period_milliseconds",
        |c, ms: i32| {
            set_tick_period(c.data_mut(), Duration::from_millis(u64::from(ms as u32)));
            Ok(Status::Ok)
        }
    );
    http::add_buffers(linker)?;
    http::add_maps(linker)?;
    http::add_streams(linker)?;
    shared::add_properties(linker)?;
    shared::add_shared(linker)?;
    shared::add_metrics(linker)?;
    add_trapping(linker)?;
    Ok(())
}

fn set_tick_period(data: &mut HostData, period: Duration) {
    let context = data.effective_context;
    if !data.root_contexts.contains(&context) {
        data.violation(format!(
            "proxy_set_tick_period_milliseconds from context {context}, not a root context"
        ));
    }
    if period.is_zero() {
        data.tick_periods.remove(&context);
        data.next_ticks.remove(&context);
    } else {
        let next = data.clock.now() + period;
        data.tick_periods.insert(context, period);
        data.next_ticks.insert(context, next);
    }
}

fn add_trapping(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    fn refuse(name: &str) -> wasmtime::Error {
        wasmtime::format_err!(
            "proxy-host: {name} is not implemented (this host has no gRPC); test a filter that \
             needs it in Envoy"
        )
    }
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |_: C<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> wasmtime::Result<i32> { Err(refuse("proxy_grpc_call")) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |_: C<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> wasmtime::Result<i32> { Err(refuse("proxy_grpc_stream")) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_send",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(refuse("proxy_grpc_send"))
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_cancel",
        |_: C<'_>, _: i32| -> wasmtime::Result<i32> { Err(refuse("proxy_grpc_cancel")) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_close",
        |_: C<'_>, _: i32| -> wasmtime::Result<i32> { Err(refuse("proxy_grpc_close")) },
    )?;
    Ok(())
}
