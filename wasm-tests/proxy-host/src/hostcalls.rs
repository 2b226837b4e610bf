//! The `env` module: every Proxy-Wasm ABI v0.2.1 hostcall (v0.2.0 has the same set).
//!
//! Each one checks its pointers, answers the spec's status codes and records what tests need.
//! gRPC is the one part not implemented: those calls trap with a message naming the call, so a
//! filter that starts using them is caught here rather than passing unnoticed.

use std::time::Duration;

use wasmtime::{Caller, Linker};

use crate::abi::{
    self, BufferType, Field, LogLevel, MapType, MetricType, Status, StreamType, deserialize_map,
    serialize_map,
};
use crate::access::{lower, remove_all, replace};
use crate::guest::{
    Fail, HostcallResult, copy_out, finish, read, read_string, u, write_u32, write_u64,
};
use crate::state::{Callback, Extras, HostData, HttpCall, LocalReply, LogLine, StreamAction};

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
    add_buffers(linker)?;
    add_maps(linker)?;
    add_properties(linker)?;
    add_shared(linker)?;
    add_streams(linker)?;
    add_metrics(linker)?;
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

fn buffer_type(v: i32) -> Result<BufferType, Fail> {
    BufferType::from_abi(v as u32).ok_or(Fail::Status(Status::BadArgument))
}

fn map_type(v: i32) -> Result<MapType, Fail> {
    MapType::from_abi(v as u32).ok_or(Fail::Status(Status::BadArgument))
}

fn add_buffers(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_get_buffer_bytes",
        |c, kind: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| {
            let buffer = c.data_mut().buffer(buffer_type(kind)?)?;
            let start = u(start);
            if start > buffer.len() {
                return Err(Status::BadArgument.into());
            }
            let end = start.saturating_add(u(max)).min(buffer.len());
            copy_out(&mut c, &buffer[start..end], ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_get_buffer_status",
        |c, kind: i32, ret_size: i32, ret_flags: i32| {
            let buffer = c.data_mut().buffer(buffer_type(kind)?)?;
            let len = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
            write_u32(&mut c, ret_size, len)?;
            write_u32(&mut c, ret_flags, 0)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_set_buffer_bytes",
        |c, kind: i32, start: i32, size: i32, ptr: i32, len: i32| {
            let kind = buffer_type(kind)?;
            let value = read(&mut c, ptr, len)?;
            c.data_mut().set_buffer(kind, u(start), u(size), &value)?;
            Ok(Status::Ok)
        }
    );
    Ok(())
}

fn add_maps(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_get_header_map_pairs",
        |c, kind: i32, ret_ptr: i32, ret_size: i32| {
            let fields = c.data_mut().map(map_type(kind)?)?;
            copy_out(&mut c, &serialize_map(&fields), ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_get_header_map_size",
        |c, kind: i32, ret_size: i32| {
            let fields = c.data_mut().map(map_type(kind)?)?;
            let size = u32::try_from(serialize_map(&fields).len()).unwrap_or(u32::MAX);
            write_u32(&mut c, ret_size, size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_set_header_map_pairs",
        |c, kind: i32, ptr: i32, len: i32| {
            let kind = map_type(kind)?;
            let bytes = read(&mut c, ptr, len)?;
            let fields = deserialize_map(&bytes).map_err(|_| Status::BadArgument)?;
            let fields: Vec<Field> = fields.into_iter().map(|(k, v)| (lower(&k), v)).collect();
            *c.data_mut().map_mut(kind, "proxy_set_header_map_pairs")? = fields;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_get_header_map_value",
        |c, kind: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32| {
            let kind = map_type(kind)?;
            let key = read_string(&mut c, kp, kl)?;
            let fields = c.data_mut().map(kind)?;
            let value = fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(&key))
                .map(|(_, v)| v.clone())
                .ok_or(Status::NotFound)?;
            copy_out(&mut c, &value, ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_add_header_map_value",
        |c, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            let kind = map_type(kind)?;
            let key = read_string(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            let what = format!("add {key}");
            c.data_mut()
                .map_mut(kind, &what)?
                .push((lower(&key), value));
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_replace_header_map_value",
        |c, kind: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
            let kind = map_type(kind)?;
            let key = read_string(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            let what = format!("set {key}");
            replace(c.data_mut().map_mut(kind, &what)?, &key, value);
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_remove_header_map_value",
        |c, kind: i32, kp: i32, kl: i32| {
            let kind = map_type(kind)?;
            let key = read_string(&mut c, kp, kl)?;
            let what = format!("remove {key}");
            remove_all(c.data_mut().map_mut(kind, &what)?, &key);
            Ok(Status::Ok)
        }
    );
    Ok(())
}

fn add_properties(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_get_property",
        |c, pp: i32, pl: i32, ret_ptr: i32, ret_size: i32| {
            let path = abi::property_path(&read(&mut c, pp, pl)?);
            let value = property(c.data_mut(), &path).ok_or(Status::NotFound)?;
            copy_out(&mut c, &value, ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_set_property",
        |c, pp: i32, pl: i32, vp: i32, vl: i32| {
            let path = abi::property_path(&read(&mut c, pp, pl)?);
            let value = read(&mut c, vp, vl)?;
            let data = c.data_mut();
            match data.extras {
                Extras::Envoy => {}
                Extras::Bare => return Ok(Status::Ok),
                Extras::BareRefusingSetProperty => return Err(Status::NotFound.into()),
            }
            match data.effective_stream() {
                Some(stream) => stream.properties.insert(path, value),
                None => data.properties.insert(path, value),
            };
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_call_foreign_function",
        |c, np: i32, nl: i32, ap: i32, al: i32, ret_ptr: i32, ret_size: i32| {
            let name = read_string(&mut c, np, nl)?;
            let args = read(&mut c, ap, al)?;
            let data = c.data();
            if data.extras != Extras::Envoy {
                return Err(Status::NotFound.into());
            }
            let f = data.foreign_functions.get(&name).ok_or(Status::NotFound)?;
            let result = f(&args)?;
            copy_out(&mut c, &result, ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    Ok(())
}

/// What Envoy would answer for a property: one the filter set, one the test gave, the plugin's
/// names, or request attributes read from the headers. Nothing in a bare host.
fn property(data: &mut HostData, path: &str) -> Option<Vec<u8>> {
    if data.extras != Extras::Envoy {
        return None;
    }
    let named = match path {
        "plugin_name" => Some(data.plugin_name.clone().into_bytes()),
        "plugin_root_id" => Some(data.root_id.clone().into_bytes()),
        "plugin_vm_id" => Some(data.vm_id.clone().into_bytes()),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    if let Some(v) = data.properties.get(path) {
        return Some(v.clone());
    }
    let stream = data.effective_stream()?;
    if let Some(v) = stream.properties.get(path) {
        return Some(v.clone());
    }
    let header = |name: &str| {
        stream
            .request
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    match path {
        "request.path" => header(":path"),
        "request.method" => header(":method"),
        "request.host" => header(":authority"),
        _ => path
            .strip_prefix("request.headers.")
            .and_then(|name| header(&lower(name))),
    }
}

fn add_shared(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| {
            let key = read_string(&mut c, kp, kl)?;
            let (value, cas) = c
                .data()
                .shared_data
                .get(&key)
                .cloned()
                .ok_or(Status::NotFound)?;
            copy_out(&mut c, &value, ret_ptr, ret_size)?;
            write_u32(&mut c, ret_cas, cas)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_set_shared_data",
        |c, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| {
            let key = read_string(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            let shared = &mut c.data_mut().shared_data;
            let current = shared.get(&key).map_or(0, |(_, cas)| *cas);
            if cas != 0 && cas as u32 != current {
                return Err(Status::CasMismatch.into());
            }
            shared.insert(key, (value, current.wrapping_add(1).max(1)));
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_register_shared_queue",
        |c, np: i32, nl: i32, ret_id: i32| {
            let name = read_string(&mut c, np, nl)?;
            let data = c.data_mut();
            let vm_id = data.vm_id.clone();
            let existing = data
                .queues
                .iter()
                .find(|(_, (v, n, _))| *v == vm_id && *n == name)
                .map(|(id, _)| *id);
            let id = existing.unwrap_or_else(|| {
                let id = data.queues.keys().last().map_or(1, |k| k + 1);
                data.queues.insert(id, (vm_id, name, Default::default()));
                id
            });
            let owner = data.effective_context;
            data.queue_owner.insert(id, owner);
            write_u32(&mut c, ret_id, id)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_resolve_shared_queue",
        |c, vp: i32, vl: i32, np: i32, nl: i32, ret_id: i32| {
            let vm_id = read_string(&mut c, vp, vl)?;
            let name = read_string(&mut c, np, nl)?;
            let id = c
                .data()
                .queues
                .iter()
                .find(|(_, (v, n, _))| *v == vm_id && *n == name)
                .map(|(id, _)| *id)
                .ok_or(Status::NotFound)?;
            write_u32(&mut c, ret_id, id)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_enqueue_shared_queue",
        |c, id: i32, vp: i32, vl: i32| {
            let value = read(&mut c, vp, vl)?;
            let data = c.data_mut();
            let (_, _, items) = data.queues.get_mut(&(id as u32)).ok_or(Status::NotFound)?;
            items.push_back(value);
            data.queue_ready.push(id as u32);
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_dequeue_shared_queue",
        |c, id: i32, ret_ptr: i32, ret_size: i32| {
            let (_, _, items) = c
                .data_mut()
                .queues
                .get_mut(&(id as u32))
                .ok_or(Status::NotFound)?;
            let item = items.pop_front().ok_or(Status::Empty)?;
            copy_out(&mut c, &item, ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    Ok(())
}

fn add_streams(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(linker, "proxy_continue_stream", |c, kind: i32| {
        stream_action(c.data_mut(), kind, StreamAction::Continue)
    });
    hostcall!(linker, "proxy_close_stream", |c, kind: i32| {
        stream_action(c.data_mut(), kind, StreamAction::Close)
    });
    hostcall!(
        linker,
        "proxy_send_local_response",
        |c, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, grpc: i32| {
            let details = String::from_utf8_lossy(&read(&mut c, dp, dl)?).into_owned();
            let body = read(&mut c, bp, bl)?;
            let headers =
                deserialize_map(&read(&mut c, hp, hl)?).map_err(|_| Status::BadArgument)?;
            let reply = LocalReply {
                status: status as u32,
                details,
                headers,
                body,
                grpc_status: grpc,
            };
            let data = c.data_mut();
            let context = data.effective_context;
            let Some(stream) = data.effective_stream() else {
                data.violation(format!(
                    "proxy_send_local_response from context {context}, not an HTTP stream"
                ));
                return Err(Status::BadArgument.into());
            };
            if stream.pending_local_reply.is_some() || stream.local_reply.is_some() {
                data.violation(format!("a second local reply on context {context}"));
                return Ok(Status::Ok);
            }
            stream.pending_local_reply = Some(reply);
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_http_call",
        |c,
         up: i32,
         ul: i32,
         hp: i32,
         hl: i32,
         bp: i32,
         bl: i32,
         tp: i32,
         tl: i32,
         timeout: i32,
         ret_token: i32| {
            let cluster = read_string(&mut c, up, ul)?;
            let headers =
                deserialize_map(&read(&mut c, hp, hl)?).map_err(|_| Status::BadArgument)?;
            let body = read(&mut c, bp, bl)?;
            let trailers =
                deserialize_map(&read(&mut c, tp, tl)?).map_err(|_| Status::BadArgument)?;
            let data = c.data_mut();
            if !data.clusters.contains(&cluster) {
                return Err(Status::BadArgument.into());
            }
            let has = |name: &str| headers.iter().any(|(n, v)| n == name && !v.is_empty());
            if !(has(":method") && has(":path") && has(":authority")) {
                return Err(Status::BadArgument.into());
            }
            let token = data.next_token;
            data.next_token += 1;
            let timeout = Duration::from_millis(u64::from(timeout as u32));
            let call = HttpCall {
                token,
                context_id: data.effective_context,
                cluster,
                headers,
                body,
                trailers,
                timeout,
                deadline: data.clock.now() + timeout,
            };
            data.dispatched.push(call.clone());
            data.http_calls.insert(token, call);
            write_u32(&mut c, ret_token, token)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_get_status",
        |c, ret_code: i32, ret_ptr: i32, ret_size: i32| {
            if c.data().current_callback() != Some(Callback::HttpCallResponse) {
                return Err(Status::NotFound.into());
            }
            let code = c.data().call_answer.as_ref().map_or(0, |a| a.status);
            write_u32(&mut c, ret_code, code)?;
            copy_out(&mut c, b"", ret_ptr, ret_size)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(linker, "proxy_set_effective_context", |c, id: i32| {
        let data = c.data_mut();
        let id = id as u32;
        let live =
            data.root_contexts.contains(&id) || data.streams.get(&id).is_some_and(|s| !s.finished);
        if !live {
            return Err(Status::BadArgument.into());
        }
        data.effective_context = id;
        Ok(Status::Ok)
    });
    hostcall!(linker, "proxy_done", |c| {
        let data = c.data_mut();
        let context = data.effective_context;
        if !data.pending_done.contains(&context) {
            return Err(Status::NotFound.into());
        }
        data.done_called.push(context);
        Ok(Status::Ok)
    });
    Ok(())
}

fn stream_action(
    data: &mut HostData,
    kind: i32,
    action: impl Fn(StreamType) -> StreamAction,
) -> HostcallResult {
    let kind = StreamType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
    if matches!(kind, StreamType::Downstream | StreamType::Upstream) {
        // TCP streams: this host runs HTTP filters only.
        return Err(Status::Unimplemented.into());
    }
    let context = data.effective_context;
    if !data.streams.contains_key(&context) {
        return Err(Status::BadArgument.into());
    }
    data.stream_actions.push((context, action(kind)));
    Ok(Status::Ok)
}

fn add_metrics(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_define_metric",
        |c, kind: i32, np: i32, nl: i32, ret_id: i32| {
            let kind = MetricType::from_abi(kind as u32).ok_or(Status::BadArgument)?;
            let name = read_string(&mut c, np, nl)?;
            let data = c.data_mut();
            if !data.metrics_enabled {
                return Err(Status::Unimplemented.into());
            }
            let id = match data.metric_ids.get(&(kind, name.clone())) {
                Some(id) => *id,
                None => {
                    let id = u32::try_from(data.metrics.len() + 1).unwrap_or(u32::MAX);
                    data.metric_ids.insert((kind, name.clone()), id);
                    data.metrics.insert(
                        id,
                        crate::state::Metric {
                            kind,
                            name,
                            value: 0,
                            samples: Vec::new(),
                        },
                    );
                    id
                }
            };
            write_u32(&mut c, ret_id, id)?;
            Ok(Status::Ok)
        }
    );
    hostcall!(
        linker,
        "proxy_increment_metric",
        |c, id: i32, delta: i64| {
            let metric = c
                .data_mut()
                .metrics
                .get_mut(&(id as u32))
                .ok_or(Status::NotFound)?;
            match metric.kind {
                MetricType::Counter if delta < 0 => Err(Status::BadArgument.into()),
                MetricType::Histogram => Err(Status::BadArgument.into()),
                _ => {
                    metric.value = metric.value.saturating_add(delta);
                    Ok(Status::Ok)
                }
            }
        }
    );
    hostcall!(linker, "proxy_record_metric", |c, id: i32, value: i64| {
        let metric = c
            .data_mut()
            .metrics
            .get_mut(&(id as u32))
            .ok_or(Status::NotFound)?;
        let value = value as u64;
        match metric.kind {
            MetricType::Histogram => metric.samples.push(value),
            _ => metric.value = i64::try_from(value).unwrap_or(i64::MAX),
        }
        Ok(Status::Ok)
    });
    hostcall!(linker, "proxy_get_metric", |c, id: i32, ret: i32| {
        let metric = c.data().metrics.get(&(id as u32)).ok_or(Status::NotFound)?;
        if metric.kind == MetricType::Histogram {
            return Err(Status::BadArgument.into());
        }
        let value = u64::try_from(metric.value).unwrap_or(0);
        write_u64(&mut c, ret, value)?;
        Ok(Status::Ok)
    });
    Ok(())
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
