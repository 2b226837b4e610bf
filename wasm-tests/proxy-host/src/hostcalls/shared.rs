//! Hostcalls not tied to one stream: properties, foreign functions, shared data and queues,
//! stats.

use wasmtime::Linker;

use super::C;
use crate::abi::{self, MetricType, Status};
use crate::access::lower;
use crate::guest::{HostcallResult, copy_out, finish, read, read_string, write_u32, write_u64};
use crate::state::{Extras, HostData};

pub(super) fn add_properties(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
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

pub(super) fn add_shared(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
    hostcall!(
        linker,
        "proxy_get_shared_data",
        |c, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32, ret_cas: i32| {
            let key = read_string(&mut c, kp, kl)?;
            let data = c.data();
            let shared = data.shared_data.as_ref().ok_or(Status::Unimplemented)?;
            let (value, cas) = shared.get(&data.vm_id, &key)?;
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
            let data = c.data();
            // A clone of the handle: hooks may drive other hosts while this write waits.
            let shared = data.shared_data.clone().ok_or(Status::Unimplemented)?;
            shared.set(&data.vm_id, &key, &value, cas as u32)?;
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

pub(super) fn add_metrics(linker: &mut Linker<HostData>) -> wasmtime::Result<()> {
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
