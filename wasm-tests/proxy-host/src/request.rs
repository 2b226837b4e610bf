//! One exchange through the filter as a test drives it, and what each side saw.

use crate::abi::Field;
use crate::state::{self, HeadersState, LocalReply};
use crate::stream::Side;
use crate::{Host, HostError, access, fields};

/// The request as it would go upstream (headers as they were when passed on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamRequest {
    pub headers: Vec<Field>,
    pub body: Vec<u8>,
    pub trailers: Option<Vec<Field>>,
    /// The end of the request has been passed on.
    pub complete: bool,
}

/// The response as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientResponse {
    /// Headers, once passed on to the client (`None` while held or never sent).
    pub headers: Option<Vec<Field>>,
    pub body: Vec<u8>,
    /// Body pieces in the order they were passed on.
    pub chunks: Vec<Vec<u8>>,
    pub trailers: Option<Vec<Field>>,
    pub complete: bool,
    /// The stream was reset instead of completed.
    pub reset: bool,
    /// The filter answered itself (`proxy_send_local_response`).
    pub local_reply: Option<LocalReply>,
}

impl UpstreamRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        state::field(&self.headers, name)
    }
}

impl ClientResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        state::field(self.headers.as_deref().unwrap_or_default(), name)
    }

    /// `:status` as a number (0 before headers reached the client).
    pub fn status(&self) -> u16 {
        self.header(":status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request/response exchange through the filter.
pub struct Request<'h> {
    pub(crate) host: &'h mut Host,
    pub(crate) id: u32,
}

impl Request<'_> {
    /// The stream's context id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// One chunk of the request body from the client.
    pub fn body(&mut self, chunk: &[u8], end_of_stream: bool) -> Result<&mut Self, HostError> {
        self.host
            .body(self.id, Side::Request, chunk, end_of_stream)?;
        Ok(self)
    }

    /// The request body in these chunks, the last one ending the stream.
    pub fn body_chunks(&mut self, chunks: &[&[u8]]) -> Result<&mut Self, HostError> {
        if chunks.is_empty() {
            return self.body(b"", true);
        }
        for (i, chunk) in chunks.iter().enumerate() {
            self.body(chunk, i + 1 == chunks.len())?;
        }
        Ok(self)
    }

    pub fn trailers(&mut self, trailers: &[(&str, &str)]) -> Result<&mut Self, HostError> {
        self.host
            .trailers(self.id, Side::Request, fields(trailers))?;
        Ok(self)
    }

    /// The request as it went upstream, once its headers were passed on.
    pub fn upstream_request(&mut self) -> Option<UpstreamRequest> {
        let s = self.host.stream_mut(self.id).ok()?;
        let d = &s.request;
        Some(UpstreamRequest {
            headers: d.sent_headers.clone()?,
            body: d.sent_body.clone(),
            trailers: d.sent_trailers.clone(),
            complete: d.complete,
        })
    }

    /// The upstream answers: `:status` and headers, then the body in these chunks (the last
    /// one ends the stream; no chunks means a header-only answer).
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
    ) -> Result<&mut Self, HostError> {
        self.response_headers(status, headers, chunks.is_empty())?;
        for (i, chunk) in chunks.iter().enumerate() {
            self.response_body(chunk, i + 1 == chunks.len())?;
        }
        Ok(self)
    }

    pub fn response_headers(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        end_of_stream: bool,
    ) -> Result<&mut Self, HostError> {
        let id = self.id;
        let s = self.host.stream_mut(id)?;
        if s.finished || s.reset || s.local_reply.is_some() {
            return Ok(self);
        }
        if s.request.headers_state != HeadersState::Sent {
            return Err(HostError::Usage(format!(
                "stream {id}: the request never went upstream, nothing can answer it"
            )));
        }
        if s.upstream_responded {
            return Err(HostError::Usage(format!("stream {id}: answered twice")));
        }
        s.upstream_responded = true;
        let mut all = vec![(":status".to_string(), status.to_string().into_bytes())];
        all.extend(
            fields(headers)
                .into_iter()
                .map(|(k, v)| (access::lower(&k), v)),
        );
        s.response.headers = all;
        s.response.headers_state = HeadersState::Held;
        s.response.end_seen = end_of_stream;
        self.host.headers(id, Side::Response, end_of_stream)?;
        Ok(self)
    }

    pub fn response_body(
        &mut self,
        chunk: &[u8],
        end_of_stream: bool,
    ) -> Result<&mut Self, HostError> {
        self.host
            .body(self.id, Side::Response, chunk, end_of_stream)?;
        Ok(self)
    }

    pub fn response_trailers(&mut self, trailers: &[(&str, &str)]) -> Result<&mut Self, HostError> {
        self.host
            .trailers(self.id, Side::Response, fields(trailers))?;
        Ok(self)
    }

    /// What the client has received so far.
    pub fn client_response(&mut self) -> ClientResponse {
        let Ok(s) = self.host.stream_mut(self.id) else {
            return ClientResponse::default();
        };
        ClientResponse {
            headers: s.response.sent_headers.clone(),
            body: s.response.sent_body.clone(),
            chunks: s.response.sent_chunks.clone(),
            trailers: s.response.sent_trailers.clone(),
            complete: s.response.complete,
            reset: s.reset,
            local_reply: s.local_reply.clone(),
        }
    }

    /// The client went away (or Envoy reset the stream).
    pub fn reset(&mut self) -> Result<(), HostError> {
        self.host.reset(self.id)?;
        self.host.settle()
    }

    /// The upstream connection reset (see [`Host`]'s stream rules for what the client gets).
    pub fn upstream_reset(&mut self) -> Result<(), HostError> {
        self.host.upstream_reset(self.id)
    }

    /// A property the filter set on this stream (e.g. an access-log field).
    pub fn property(&mut self, path: &str) -> Option<String> {
        let s = self.host.stream_mut(self.id).ok()?;
        s.properties
            .get(path)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The stream's context is gone (on_done, on_log, on_delete ran).
    pub fn finished(&mut self) -> bool {
        self.host.stream_mut(self.id).is_ok_and(|s| s.finished)
    }

    pub fn host(&mut self) -> &mut Host {
        self.host
    }
}
