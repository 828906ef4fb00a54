//! The WebSocket connection to `/ws`: open, subscribe, decode frames, and
//! reconnect with backoff when the connection drops (the server then sends
//! a fresh hello and history, so the dashboard resyncs by itself).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::set_timeout;
use shared::protocol::{ClientMessage, FrameError, ServerMessage};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// Close code the server uses for a protocol version it does not speak.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// First reconnect delay; doubles up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: u32 = 500;
/// Longest reconnect delay.
pub const MAX_BACKOFF_MS: u32 = 10_000;

/// Connection state, for the status pill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Opening the socket.
    Connecting,
    /// Open and subscribed.
    Live,
    /// Closed; the next attempt starts after `delay_ms`.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Wait before the next one.
        delay_ms: u32,
        /// Why the last connection ended.
        reason: String,
    },
    /// The server refused this client (another protocol version): no retry.
    Refused(String),
}

impl Status {
    /// Short text for people.
    pub fn label(&self) -> String {
        match self {
            Status::Connecting => "connecting".into(),
            Status::Live => "live".into(),
            Status::Reconnecting {
                attempt,
                delay_ms,
                reason,
            } => {
                format!(
                    "reconnecting in {:.1} s (attempt {attempt}; {reason})",
                    f64::from(*delay_ms) / 1000.0
                )
            }
            Status::Refused(r) => format!("refused: {r}"),
        }
    }
}

/// What the connection reports.
pub struct Handlers {
    /// A frame arrived (or failed to decode).
    pub on_message: Box<dyn Fn(Result<ServerMessage, FrameError>)>,
    /// The status changed.
    pub on_status: Box<dyn Fn(Status)>,
}

struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

struct Inner {
    url: String,
    subscribe: ClientMessage,
    handlers: Handlers,
    socket: RefCell<Option<Socket>>,
    attempt: Cell<u32>,
}

/// A self-reconnecting subscription; dropping it closes the socket.
pub struct Stream {
    inner: Rc<Inner>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(s) = self.inner.socket.borrow_mut().take() {
            // The closures are dropped with `s`: detach them first, or the
            // socket's close event would call a dropped closure.
            s.ws.set_onopen(None);
            s.ws.set_onmessage(None);
            s.ws.set_onclose(None);
            let _ = s.ws.close();
        }
    }
}

/// `ws://host/ws` (or `wss://` on https) for the page's own origin.
pub fn default_url() -> String {
    let location = leptos::prelude::window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    let host = location.host().unwrap_or_else(|_| "127.0.0.1:8080".into());
    crate::view_state::with_token(&format!("{scheme}://{host}/ws"), crate::page::access_token())
}

impl Stream {
    /// Connects to `url`, sends `subscribe` on every (re)connect.
    pub fn open(url: String, subscribe: ClientMessage, handlers: Handlers) -> Self {
        let inner = Rc::new(Inner {
            url,
            subscribe,
            handlers,
            socket: RefCell::new(None),
            attempt: Cell::new(0),
        });
        connect(&inner);
        Stream { inner }
    }
}

fn connect(inner: &Rc<Inner>) {
    (inner.handlers.on_status)(Status::Connecting);
    let ws = match WebSocket::new(&inner.url) {
        Ok(ws) => ws,
        Err(e) => {
            retry(inner, format!("{e:?}"));
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(inner);
    let on_open = {
        let weak = weak.clone();
        let ws = ws.clone();
        Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                inner.attempt.set(0);
                let _ = ws.send_with_u8_array(&inner.subscribe.encode());
                (inner.handlers.on_status)(Status::Live);
            }
        })
    };
    let on_message = {
        let weak = weak.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(inner) = weak.upgrade() else { return };
            let decoded = match e.data().dyn_into::<js_sys::ArrayBuffer>() {
                Ok(buf) => ServerMessage::decode(&js_sys::Uint8Array::new(&buf).to_vec()),
                Err(_) => Err(FrameError("text frame where a binary frame was expected".into())),
            };
            (inner.handlers.on_message)(decoded);
        })
    };
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
        let Some(inner) = weak.upgrade() else { return };
        if e.code() == CLOSE_PROTOCOL_ERROR {
            (inner.handlers.on_status)(Status::Refused(e.reason()));
            return;
        }
        let reason = if e.reason().is_empty() {
            format!("closed with code {}", e.code())
        } else {
            e.reason()
        };
        retry(&inner, reason);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    // The previous socket's closures may be running (this is called from a
    // timer, never from them), so replacing it here is safe.
    *inner.socket.borrow_mut() = Some(Socket {
        ws,
        _on_open: on_open,
        _on_message: on_message,
        _on_close: on_close,
    });
}

fn retry(inner: &Rc<Inner>, reason: String) {
    let attempt = inner.attempt.get() + 1;
    inner.attempt.set(attempt);
    let delay_ms = FIRST_BACKOFF_MS
        .saturating_mul(1 << attempt.min(5).saturating_sub(1))
        .min(MAX_BACKOFF_MS);
    (inner.handlers.on_status)(Status::Reconnecting {
        attempt,
        delay_ms,
        reason,
    });
    let weak: Weak<Inner> = Rc::downgrade(inner);
    set_timeout(
        move || {
            if let Some(inner) = weak.upgrade() {
                connect(&inner);
            }
        },
        Duration::from_millis(u64::from(delay_ms)),
    );
}
