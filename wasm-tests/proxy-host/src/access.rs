//! Which header map or buffer a hostcall means, and whether the guest may touch it now.
//!
//! The spec ties each map and buffer to callbacks ("`HTTP_REQUEST_BODY` can be read and
//! modified in `proxy_on_request_body` (or for as long as request processing is paused from
//! it)"). Reads outside that window get what Envoy answers (BadArgument for a map that does
//! not exist, NotFound for a buffer); writes Envoy would silently drop (headers already sent)
//! are applied here too but recorded as violations, so tests see them.

use crate::abi::{BufferType, Field, MapType, Status};
use crate::state::{Callback, Direction, HeadersState, HostData, HttpStream};

impl HostData {
    /// The stream of the effective context, if it is an HTTP stream.
    pub fn effective_stream(&mut self) -> Option<&mut HttpStream> {
        self.streams.get_mut(&self.effective_context)
    }

    fn direction(&mut self, map: MapType) -> Result<&mut Direction, Status> {
        let stream = self.effective_stream().ok_or(Status::BadArgument)?;
        let dir = match map {
            MapType::HttpRequestHeaders | MapType::HttpRequestTrailers => &mut stream.request,
            MapType::HttpResponseHeaders | MapType::HttpResponseTrailers => &mut stream.response,
            _ => return Err(Status::BadArgument),
        };
        if dir.headers_state == HeadersState::NotReceived {
            // The map does not exist yet (e.g. response headers during the request).
            return Err(Status::BadArgument);
        }
        Ok(dir)
    }

    /// A header map to read.
    pub fn map(&mut self, map: MapType) -> Result<Vec<Field>, Status> {
        match map {
            MapType::HttpCallResponseHeaders | MapType::HttpCallResponseTrailers => {
                if self.current_callback() != Some(Callback::HttpCallResponse) {
                    return Err(Status::BadArgument);
                }
                let answer = self.call_answer.as_ref().ok_or(Status::BadArgument)?;
                Ok(if map == MapType::HttpCallResponseHeaders {
                    answer.headers.clone()
                } else {
                    answer.trailers.clone()
                })
            }
            MapType::GrpcCallInitialMetadata | MapType::GrpcCallTrailingMetadata => {
                Err(Status::BadArgument)
            }
            MapType::HttpRequestHeaders | MapType::HttpResponseHeaders => {
                Ok(self.direction(map)?.headers.clone())
            }
            MapType::HttpRequestTrailers | MapType::HttpResponseTrailers => {
                Ok(self.direction(map)?.trailers.clone())
            }
        }
    }

    /// A header map to change, with `what` describing the change for a violation report.
    pub fn map_mut(&mut self, map: MapType, what: &str) -> Result<&mut Vec<Field>, Status> {
        if !matches!(
            map,
            MapType::HttpRequestHeaders
                | MapType::HttpRequestTrailers
                | MapType::HttpResponseHeaders
                | MapType::HttpResponseTrailers
        ) {
            // Call answers and gRPC metadata are read-only.
            return Err(Status::BadArgument);
        }
        let callback = self.current_callback();
        let context = self.effective_context;
        let late = {
            let dir = self.direction(map)?;
            match map {
                MapType::HttpRequestHeaders | MapType::HttpResponseHeaders => {
                    dir.headers_state == HeadersState::Sent
                }
                _ => dir.sent_trailers.is_some() || dir.complete,
            }
        };
        if late {
            self.violation(format!(
                "{what} on {map:?} of context {context} in {callback:?}, after they were \
                 passed on: Envoy ignores such a change"
            ));
        }
        let dir = self.direction(map)?;
        Ok(match map {
            MapType::HttpRequestHeaders | MapType::HttpResponseHeaders => &mut dir.headers,
            _ => &mut dir.trailers,
        })
    }

    /// A buffer to read.
    pub fn buffer(&mut self, buffer: BufferType) -> Result<Vec<u8>, Status> {
        let callback = self.current_callback();
        match buffer {
            BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
                let stream = self.effective_stream().ok_or(Status::NotFound)?;
                let dir = if buffer == BufferType::HttpRequestBody {
                    &stream.request
                } else {
                    &stream.response
                };
                dir.body.clone().ok_or(Status::NotFound)
            }
            BufferType::HttpCallResponseBody if callback == Some(Callback::HttpCallResponse) => {
                Ok(self
                    .call_answer
                    .as_ref()
                    .map(|a| a.body.clone())
                    .unwrap_or_default())
            }
            BufferType::VmConfiguration if callback == Some(Callback::VmStart) => {
                Ok(self.vm_configuration.clone())
            }
            BufferType::PluginConfiguration if callback == Some(Callback::Configure) => {
                Ok(self.plugin_configuration.clone())
            }
            _ => Err(Status::NotFound),
        }
    }

    /// Replace `size` bytes at `start` of a body buffer with `value`, as the spec defines it
    /// (prepend, append, inject, replace). Envoy implements only prepend, append and "replace
    /// everything" (start 0, size at least the buffer's length): any other use is done here
    /// but reported, because Envoy answers it BadArgument.
    pub fn set_buffer(
        &mut self,
        buffer: BufferType,
        start: usize,
        size: usize,
        value: &[u8],
    ) -> Result<(), Status> {
        let context = self.effective_context;
        let body = match buffer {
            BufferType::HttpRequestBody | BufferType::HttpResponseBody => {
                let stream = self.effective_stream().ok_or(Status::NotFound)?;
                let dir = if buffer == BufferType::HttpRequestBody {
                    &mut stream.request
                } else {
                    &mut stream.response
                };
                dir.body.as_mut().ok_or(Status::NotFound)?
            }
            BufferType::DownstreamData | BufferType::UpstreamData => return Err(Status::NotFound),
            _ => return Err(Status::BadArgument),
        };
        let len = body.len();
        let envoy_can = (start == 0 && (size == 0 || size >= len)) || start >= len;
        if start >= len {
            body.extend_from_slice(value);
        } else {
            let end = start.saturating_add(size).min(len);
            body.splice(start..end, value.iter().copied());
        }
        if !envoy_can {
            self.violation(format!(
                "proxy_set_buffer_bytes({buffer:?}, start {start}, size {size}) on a \
                 {len}-byte buffer of context {context}: Envoy answers BadArgument"
            ));
        }
        Ok(())
    }
}

/// Header names as Envoy stores them.
pub fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub fn remove_all(fields: &mut Vec<Field>, name: &str) {
    fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
}

/// Replace the value of `name` where it first appears (dropping the others), or append it.
pub fn replace(fields: &mut Vec<Field>, name: &str, value: Vec<u8>) {
    match fields
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(i) => {
            fields[i] = (lower(name), value);
            let mut seen = 0;
            fields.retain(|(n, _)| {
                if n.eq_ignore_ascii_case(name) {
                    seen += 1;
                    seen == 1
                } else {
                    true
                }
            });
        }
        None => fields.push((lower(name), value)),
    }
}
