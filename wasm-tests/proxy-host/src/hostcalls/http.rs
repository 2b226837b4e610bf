//! Hostcalls of one HTTP stream: body buffers, header maps, stream control, local replies,
//! HTTP calls out and the effective context.

use std::time::Duration;

use wasmtime::Linker;

use super::C;
use crate::abi::{BufferType, Field, MapType, Status, StreamType, deserialize_map, serialize_map};
use crate::access::{lower, remove_all, replace};
use crate::guest::{Fail, HostcallResult, copy_out, finish, read, read_string, u, write_u32};
use crate::state::{Callback, HostData, HttpCall, LocalReply, StreamAction};

fn buffer_type(v: i32) -> Result<BufferType, Fail> {
    BufferType::from_abi(v as u32).ok_or(Fail::Status(Status::BadArgument))
}

fn map_type(v: i32) -> Result<MapType, Fail> {
    MapType::from_abi(v as u32).ok_or(Fail::Status(Status::BadArgument))
}

pub(super) fn add_buffers(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
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

pub(super) fn add_maps(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
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

pub(super) fn add_streams(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
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
