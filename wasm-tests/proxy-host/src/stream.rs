//! Moving one HTTP stream through the filter the way Envoy's filter manager does (with
//! `allow_on_headers_stop_iteration: true`, as the shipped configs set it):
//!
//! - headers answered `Pause` are held; they go on when a later body (or trailers) callback
//!   answers `Continue`, or on `proxy_continue_stream`;
//! - a body callback answered `Pause` buffers: the next chunk is appended and the callback sees
//!   the whole buffered body and its size; `Continue` passes on everything held;
//! - a local reply is applied after the callback that asked for it returns. Sent while the
//!   request is processed, it goes through the filter's own response callbacks; sent once the
//!   upstream answered, it replaces that answer directly, bypassing the filter;
//! - when the response is complete: `proxy_on_done`, `proxy_on_log`, `proxy_on_delete`.

use crate::abi::{Action, Field, StreamType};
use crate::access::lower;
use crate::state::{Callback, Direction, HeadersState, HttpStream, LocalReply, StreamAction};
use crate::{Host, HostError};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Request,
    Response,
}

fn dir(stream: &mut HttpStream, side: Side) -> &mut Direction {
    match side {
        Side::Request => &mut stream.request,
        Side::Response => &mut stream.response,
    }
}

impl Host {
    pub(crate) fn stream_mut(&mut self, id: u32) -> Result<&mut HttpStream, HostError> {
        self.store
            .data_mut()
            .streams
            .get_mut(&id)
            .ok_or_else(|| HostError::Usage(format!("no stream {id}")))
    }

    /// Whether the filter still sees this side: not after a local reply (request side), a
    /// reset, or the end of the stream.
    fn side_open(&mut self, id: u32, side: Side) -> Result<bool, HostError> {
        let s = self.stream_mut(id)?;
        Ok(!(s.finished
            || s.reset
            || (side == Side::Request && s.local_reply.is_some())
            || dir(s, side).complete))
    }

    /// New stream context; its request headers go to `proxy_on_request_headers`.
    pub(crate) fn open_stream(&mut self, headers: Vec<Field>, eos: bool) -> Result<u32, HostError> {
        self.open_stream_with(headers, eos, Default::default())
    }

    /// A new stream whose properties (filter state, upstream host metadata ...) start as given.
    pub(crate) fn open_stream_with(
        &mut self,
        headers: Vec<Field>,
        eos: bool,
        properties: std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<u32, HostError> {
        let id = self.next_context;
        self.next_context += 1;
        let mut stream = HttpStream {
            properties,
            ..HttpStream::default()
        };
        stream.request.headers = headers.into_iter().map(|(k, v)| (lower(&k), v)).collect();
        stream.request.headers_state = HeadersState::Held;
        stream.request.end_seen = eos;
        self.store.data_mut().streams.insert(id, stream);
        let params = (id as i32, self.root_context as i32);
        self.invoke(Callback::ContextCreate, id, |e| &e.context_create, params)?;
        self.headers(id, Side::Request, eos)?;
        Ok(id)
    }

    /// Deliver the held headers of `side` to the filter.
    pub(crate) fn headers(&mut self, id: u32, side: Side, eos: bool) -> Result<(), HostError> {
        let n = dir(self.stream_mut(id)?, side).headers.len();
        let params = (id as i32, n as i32, eos as i32);
        let action = match side {
            Side::Request => {
                self.invoke(Callback::RequestHeaders, id, |e| &e.request_headers, params)?
            }
            Side::Response => self.invoke(
                Callback::ResponseHeaders,
                id,
                |e| &e.response_headers,
                params,
            )?,
        };
        let action = action.map_or(Action::Continue, Action::from_abi);
        self.after(id, side, action, eos)
    }

    /// One body chunk from the peer of `side`.
    pub(crate) fn body(
        &mut self,
        id: u32,
        side: Side,
        chunk: &[u8],
        eos: bool,
    ) -> Result<(), HostError> {
        if !self.side_open(id, side)? {
            return Ok(());
        }
        let d = dir(self.stream_mut(id)?, side);
        if d.end_seen {
            return Err(HostError::Usage(format!(
                "{side:?} body after its end of stream"
            )));
        }
        d.end_seen = eos;
        let size = match (&mut d.body, d.buffering) {
            (Some(held), true) => {
                held.extend_from_slice(chunk);
                held.len()
            }
            (body, _) => {
                *body = Some(chunk.to_vec());
                chunk.len()
            }
        };
        let params = (id as i32, size as i32, eos as i32);
        let action = match side {
            Side::Request => self.invoke(Callback::RequestBody, id, |e| &e.request_body, params)?,
            Side::Response => {
                self.invoke(Callback::ResponseBody, id, |e| &e.response_body, params)?
            }
        };
        let action = action.map_or(Action::Continue, Action::from_abi);
        self.after(id, side, action, eos)
    }

    /// Trailers from the peer of `side` (the body before them did not end the stream).
    pub(crate) fn trailers(
        &mut self,
        id: u32,
        side: Side,
        trailers: Vec<Field>,
    ) -> Result<(), HostError> {
        if !self.side_open(id, side)? {
            return Ok(());
        }
        let d = dir(self.stream_mut(id)?, side);
        d.end_seen = true;
        d.trailers = trailers.into_iter().map(|(k, v)| (lower(&k), v)).collect();
        let n = d.trailers.len();
        let params = (id as i32, n as i32);
        let action = match side {
            Side::Request => self.invoke(
                Callback::RequestTrailers,
                id,
                |e| &e.request_trailers,
                params,
            )?,
            Side::Response => self.invoke(
                Callback::ResponseTrailers,
                id,
                |e| &e.response_trailers,
                params,
            )?,
        };
        let action = action.map_or(Action::Continue, Action::from_abi);
        self.after(id, side, action, true)
    }

    /// What the host does with the filter's answer to a callback of `side`.
    fn after(&mut self, id: u32, side: Side, action: Action, eos: bool) -> Result<(), HostError> {
        if self.stream_mut(id)?.pending_local_reply.is_some() {
            self.local_reply(id)?;
            return self.settle();
        }
        if self.stream_mut(id)?.reset || self.stream_mut(id)?.finished {
            return self.settle();
        }
        match action {
            Action::Continue => self.pass_on(id, side)?,
            Action::Pause => {
                let d = dir(self.stream_mut(id)?, side);
                if d.body.is_some() {
                    d.buffering = true;
                }
                if eos {
                    d.waiting_for_continue = true;
                }
            }
        }
        self.settle()
    }

    /// Pass on everything held on `side`: headers (as they are now), the buffered body,
    /// trailers, and the end of stream once it has arrived.
    fn pass_on(&mut self, id: u32, side: Side) -> Result<(), HostError> {
        let d = dir(self.stream_mut(id)?, side);
        if d.headers_state == HeadersState::Held {
            d.headers_state = HeadersState::Sent;
            d.sent_headers = Some(d.headers.clone());
        }
        if let Some(body) = d.body.take()
            && !body.is_empty()
        {
            d.sent_body.extend_from_slice(&body);
            d.sent_chunks.push(body);
        }
        d.buffering = false;
        d.waiting_for_continue = false;
        if d.end_seen && !d.complete {
            if !d.trailers.is_empty() {
                d.sent_trailers = Some(d.trailers.clone());
            }
            d.complete = true;
            if side == Side::Response {
                self.finish_stream(id)?;
            }
        }
        Ok(())
    }

    /// Apply the local reply the filter asked for in the callback that just returned.
    fn local_reply(&mut self, id: u32) -> Result<(), HostError> {
        let s = self.stream_mut(id)?;
        let Some(reply) = s.pending_local_reply.take() else {
            return Ok(());
        };
        s.local_reply = Some(reply.clone());
        if s.response.headers_state == HeadersState::Sent {
            let status = reply.status;
            self.store.data_mut().violation(format!(
                "local reply {status} on context {id} after the response headers were sent: \
                 Envoy can only reset the stream"
            ));
            return self.reset(id);
        }
        let headers = reply_headers(&reply);
        if self.stream_mut(id)?.upstream_responded {
            // Encoding already: Envoy sends the reply directly, the filter does not see it.
            let d = &mut self.stream_mut(id)?.response;
            *d = Direction::default();
            d.headers_state = HeadersState::Sent;
            d.sent_headers = Some(headers.clone());
            d.headers = headers;
            if !reply.body.is_empty() {
                d.sent_body = reply.body.clone();
                d.sent_chunks.push(reply.body);
            }
            d.end_seen = true;
            d.complete = true;
            return self.finish_stream(id);
        }
        // Decoding: the reply goes through the encoder filters, this one included.
        self.respond_from_host(id, headers, reply.body)
    }

    /// A response that starts in the host (a local reply before any upstream answer, or the
    /// router's 503 for an upstream that reset) and goes through the filter's response side.
    fn respond_from_host(
        &mut self,
        id: u32,
        headers: Vec<Field>,
        body: Vec<u8>,
    ) -> Result<(), HostError> {
        let s = self.stream_mut(id)?;
        s.upstream_responded = true;
        s.response = Direction {
            headers,
            headers_state: HeadersState::Held,
            end_seen: body.is_empty(),
            ..Direction::default()
        };
        self.headers(id, Side::Response, body.is_empty())?;
        if !body.is_empty() {
            self.body(id, Side::Response, &body, true)?;
        }
        Ok(())
    }

    /// The upstream connection reset. Before any response: Envoy's router answers 503 through
    /// the filter. After response headers the filter held: a direct 503. Once headers reached
    /// the client: the client's stream is reset.
    pub(crate) fn upstream_reset(&mut self, id: u32) -> Result<(), HostError> {
        let s = self.stream_mut(id)?;
        if s.finished {
            return Ok(());
        }
        let body = b"upstream connect error or disconnect/reset before headers. reset reason: \
                     remote reset"
            .to_vec();
        let headers = vec![
            (":status".to_string(), b"503".to_vec()),
            (
                "content-length".to_string(),
                body.len().to_string().into_bytes(),
            ),
            ("content-type".to_string(), b"text/plain".to_vec()),
        ];
        if !s.upstream_responded {
            self.respond_from_host(id, headers, body)?;
            return self.settle();
        }
        if s.response.headers_state == HeadersState::Held {
            s.pending_local_reply = Some(LocalReply {
                status: 503,
                details: "upstream_reset_after_response_started".into(),
                headers: vec![("content-type".into(), b"text/plain".to_vec())],
                body,
                grpc_status: -1,
            });
            self.local_reply(id)?;
            // The reply came from Envoy, not the filter.
            self.stream_mut(id)?.local_reply = None;
            return self.settle();
        }
        self.reset(id)?;
        self.settle()
    }

    /// The stream is reset (client gone, or the filter closed it): the filter's context ends.
    pub(crate) fn reset(&mut self, id: u32) -> Result<(), HostError> {
        let s = self.stream_mut(id)?;
        if s.finished {
            return Ok(());
        }
        s.reset = true;
        self.finish_stream(id)
    }

    /// `proxy_on_done`, then (unless the filter defers with false and `proxy_done`)
    /// `proxy_on_log` and `proxy_on_delete`.
    fn finish_stream(&mut self, id: u32) -> Result<(), HostError> {
        if self.stream_mut(id)?.finished || self.store.data().pending_done.contains(&id) {
            return Ok(());
        }
        let done = self.invoke(Callback::Done, id, |e| &e.done, id as i32)?;
        if done == Some(0) {
            self.store.data_mut().pending_done.insert(id);
            return Ok(());
        }
        self.log_and_delete(id)
    }

    fn log_and_delete(&mut self, id: u32) -> Result<(), HostError> {
        self.store.data_mut().pending_done.remove(&id);
        self.invoke(Callback::Log, id, |e| &e.log, id as i32)?;
        self.invoke(Callback::Delete, id, |e| &e.delete, id as i32)?;
        self.stream_mut(id)?.finished = true;
        // Envoy cancels the calls a deleted context still waits for.
        self.store
            .data_mut()
            .http_calls
            .retain(|_, call| call.context_id != id);
        Ok(())
    }

    /// Carry out what the guest asked for during callbacks: resumed or closed streams,
    /// `proxy_done`, queue notifications.
    pub(crate) fn settle(&mut self) -> Result<(), HostError> {
        loop {
            // A local reply asked for outside the stream's own callbacks (e.g. from an HTTP
            // call's answer, with the stream as effective context).
            let replying = self
                .store
                .data()
                .streams
                .iter()
                .find(|(_, s)| s.pending_local_reply.is_some() && !s.finished)
                .map(|(id, _)| *id);
            if let Some(id) = replying {
                self.local_reply(id)?;
                continue;
            }
            let data = self.store.data_mut();
            if let Some((id, action)) = data.stream_actions.pop() {
                match action {
                    StreamAction::Continue(StreamType::HttpRequest) => {
                        if self.side_open(id, Side::Request)? {
                            self.pass_on(id, Side::Request)?;
                        }
                    }
                    StreamAction::Continue(_) => {
                        if self.side_open(id, Side::Response)? {
                            self.pass_on(id, Side::Response)?;
                        }
                    }
                    StreamAction::Close(_) => self.reset(id)?,
                }
                continue;
            }
            if let Some(id) = data.done_called.pop() {
                self.log_and_delete(id)?;
                continue;
            }
            if let Some(queue) = data.queue_ready.pop() {
                let owner = data
                    .queue_owner
                    .get(&queue)
                    .copied()
                    .unwrap_or(self.root_context);
                let params = (owner as i32, queue as i32);
                self.invoke(Callback::QueueReady, owner, |e| &e.queue_ready, params)?;
                continue;
            }
            return Ok(());
        }
    }
}

/// The headers of a local reply as Envoy sends them: `:status`, the filter's headers (names
/// lower-cased), `content-length`, and `content-type: text/plain` for a body without one.
fn reply_headers(reply: &LocalReply) -> Vec<Field> {
    let mut headers = vec![(":status".to_string(), reply.status.to_string().into_bytes())];
    for (k, v) in &reply.headers {
        headers.push((lower(k), v.clone()));
    }
    if !reply.body.is_empty() {
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".into(), b"text/plain".to_vec()));
        }
        headers.retain(|(k, _)| k != "content-length");
        headers.push((
            "content-length".into(),
            reply.body.len().to_string().into_bytes(),
        ));
    }
    headers
}
