//! The TCP connections of the HTTP agents, made so that close can interrupt them.
//!
//! ureq's own TCP connector connects with a blocking `connect_timeout`, which nothing can
//! interrupt: a connect whose SYN is never answered held a closing sender until
//! `remote_timeout`. [`InterruptibleTcpConnector`] connects without blocking instead and waits
//! for the connection in slices of at most [`SLICE`], looking at the transport's
//! [`Interrupted`] flag between them, so a connect in progress when close reaches its
//! deadline fails within a slice. Addresses are tried as ureq tries them (the timeout shared
//! out between them, the next one tried after a failure that concerns only this address).
//!
//! The connected socket becomes a [`TcpTransport`], a plain copy of ureq's own (which cannot
//! be built outside ureq), registered with the agent so that `Agent::shutdown` interrupts a
//! read or write blocked on it.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, ipproto, socket_with, sockopt};
use ureq::Timeout;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

/// The longest wait for a connect (or a name lookup, see `resolve.rs`) between two looks at
/// the [`Interrupted`] flag: how late an interrupted connect fails at most.
pub const SLICE: Duration = Duration::from_millis(50);

/// The least time given to one address of several (as ureq does).
const MIN_PER_ADDRESS: Duration = Duration::from_millis(10);

/// Set once a transport is interrupted (close reached its deadline): its connects and name
/// lookups in progress fail within [`SLICE`], and later ones fail at once. Shared by the
/// transport's connector, its resolver and its [`super::Interrupter`].
#[derive(Debug, Clone, Default)]
pub struct Interrupted(Arc<AtomicBool>);

impl Interrupted {
    /// Interrupts, for good.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Interrupted::set`] was called.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The error of an attempt that was interrupted, or that starts once interrupted.
    pub fn error(what: &str) -> ureq::Error {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::NotConnected,
            format!("{what} interrupted: the sender is closing"),
        ))
    }

    /// Fails when interrupted.
    pub fn check(&self, what: &str) -> Result<(), ureq::Error> {
        if self.is_set() {
            Err(Interrupted::error(what))
        } else {
            Ok(())
        }
    }
}

/// Opens TCP connections that stop within [`SLICE`] once [`Interrupted`] (in place of ureq's
/// `TcpConnector`, whose connect cannot be interrupted). Like it, it passes on a transport
/// made earlier in the chain untouched.
///
/// With `round_robin_dns`, it connects to one of the resolved addresses chosen at random
/// (Prometheus's `round_robin_dns`), and only to it, instead of trying each in turn.
#[derive(Debug, Clone)]
pub struct InterruptibleTcpConnector {
    interrupted: Interrupted,
    round_robin: bool,
}

impl InterruptibleTcpConnector {
    /// A connector that gives up when `interrupted` is set; with `round_robin`, it connects to
    /// one resolved address chosen at random.
    pub fn new(interrupted: Interrupted, round_robin: bool) -> Self {
        InterruptibleTcpConnector {
            interrupted,
            round_robin,
        }
    }

    /// Connects to `addrs` (all in turn, or one at random with round-robin DNS) for the
    /// connection `details` describes, within its timeout, and registers the socket with the
    /// agent so that `Agent::shutdown` reaches it.
    pub fn open(
        &self,
        addrs: &[SocketAddr],
        details: &ConnectionDetails,
    ) -> Result<TcpTransport, ureq::Error> {
        let config = details.config;
        let stream = self.connect_stream(addrs, details.timeout)?;
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
        let transport = TcpTransport::new(stream, buffers);
        // Fails once the agent is shut down; `Agent::shutdown` shuts the socket down later.
        (details.register_shutdown)(transport.shutdown_handle())?;
        Ok(transport)
    }
}

impl InterruptibleTcpConnector {
    /// The connected socket: to the first of `addrs` that answers, or with round-robin DNS
    /// to the one chosen at random (no other is tried when it fails).
    fn connect_stream(
        &self,
        addrs: &[SocketAddr],
        timeout: NextTimeout,
    ) -> Result<TcpStream, ureq::Error> {
        let addrs = if self.round_robin {
            choose_one(addrs, random())
        } else {
            addrs
        };
        connect_any(addrs, timeout, &self.interrupted)
    }
}

impl<In: Transport> Connector<In> for InterruptibleTcpConnector {
    type Out = Either<In, TcpTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            return Ok(chained.map(Either::A));
        }
        self.open(&details.addrs, details)
            .map(|transport| Some(Either::B(transport)))
    }
}

/// The addresses round-robin DNS connects to: the one of `addrs` that `random` picks (all
/// of them, i.e. none, when there is none).
fn choose_one(addrs: &[SocketAddr], random: u64) -> &[SocketAddr] {
    if addrs.is_empty() {
        return addrs;
    }
    let index = (random % addrs.len() as u64) as usize;
    &addrs[index..=index]
}

/// A random number for round-robin DNS: std's randomly keyed SipHash (a fresh key per call)
/// of the time. Spreads connections; not for cryptography.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Connects to the first of `addrs` that answers within `timeout`, sharing the timeout out
/// between them as ureq does (halving it from one address to the next, the shares adding up
/// to the whole), and moving on after a failure that concerns only the address tried.
fn connect_any(
    addrs: &[SocketAddr],
    timeout: NextTimeout,
    interrupted: &Interrupted,
) -> Result<TcpStream, ureq::Error> {
    let start = Instant::now();
    let total = timeout.not_zero().map(|t| *t);
    let total_weight = 2.0 * (1.0 - 0.5_f64.powi(addrs.len() as i32));
    let mut weight = 1.0_f64;
    let mut last_error = None;
    for addr in addrs {
        let share = total.map(|t| {
            let ms = t.as_secs_f64() * 1000.0 * weight / total_weight;
            Duration::from_millis(ms as u64).max(MIN_PER_ADDRESS)
        });
        match connect_one(*addr, share, interrupted) {
            Ok(stream) => return Ok(stream),
            Err(ureq::Error::Io(e)) if is_addr_specific_error(&e) => {
                last_error = Some(ureq::Error::Io(e))
            }
            Err(e @ ureq::Error::Timeout(_)) => {
                if total.is_some_and(|t| start.elapsed() >= t) {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                last_error = Some(e);
            }
            Err(e) => return Err(e),
        }
        weight /= 2.0;
    }
    Err(last_error.unwrap_or_else(|| {
        ureq::Error::Io(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ))
    }))
}

/// Whether a failed connect concerns only the address tried, so the next one may still work
/// (as ureq decides: refused, or unreachable by the local network stack).
fn is_addr_specific_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::NetworkDown
            | io::ErrorKind::AddrNotAvailable
    )
}

/// Connects to `addr` within `limit` (none: as long as it takes), unless interrupted: the
/// connect is started without blocking, then waited for in slices of at most [`SLICE`].
fn connect_one(
    addr: SocketAddr,
    limit: Option<Duration>,
    interrupted: &Interrupted,
) -> Result<TcpStream, ureq::Error> {
    interrupted.check("connect")?;
    let start = Instant::now();
    let stream = nonblocking_socket(addr)?;
    match rustix::net::connect(&stream, &addr) {
        Ok(()) => {}
        // In progress; EINTR leaves it going on too.
        Err(Errno::INPROGRESS | Errno::INTR) => wait_connected(&stream, start, limit, interrupted)?,
        Err(e) => return Err(io::Error::from(e).into()),
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// A TCP socket for `addr`'s family, close-on-exec (as std makes them) and non-blocking.
fn nonblocking_socket(addr: SocketAddr) -> io::Result<TcpStream> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    #[cfg(not(any(target_vendor = "apple", target_os = "aix", target_os = "haiku")))]
    let fd = socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        Some(ipproto::TCP),
    )?;
    #[cfg(any(target_vendor = "apple", target_os = "aix", target_os = "haiku"))]
    let fd = {
        let fd = socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::empty(),
            Some(ipproto::TCP),
        )?;
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
        // std's sockets do not raise SIGPIPE: there it takes this option (elsewhere std
        // sends with MSG_NOSIGNAL).
        #[cfg(target_vendor = "apple")]
        sockopt::set_socket_nosigpipe(&fd, true)?;
        fd
    };
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(true)?;
    Ok(stream)
}

/// Waits for the connect of `stream` (begun at `start`) to end, in slices of at most
/// [`SLICE`]: its outcome, a timeout once `limit` has passed, or an error once interrupted.
fn wait_connected(
    stream: &TcpStream,
    start: Instant,
    limit: Option<Duration>,
    interrupted: &Interrupted,
) -> Result<(), ureq::Error> {
    loop {
        interrupted.check("connect")?;
        let slice = match limit {
            Some(limit) => {
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(ureq::Error::Timeout(Timeout::Connect));
                }
                left.min(SLICE)
            }
            None => SLICE,
        };
        let timespec =
            Timespec::try_from(slice).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut fds = [PollFd::new(stream, PollFlags::OUT)];
        match poll(&mut fds, Some(&timespec)) {
            Ok(0) | Err(Errno::INTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(io::Error::from(e).into()),
        }
    }
    // Writable or failed: SO_ERROR tells which; a socket that is not connected after all
    // (a hang-up without an error) fails on `peer_addr`.
    match sockopt::socket_error(stream) {
        Ok(Ok(())) => {}
        Ok(Err(e)) | Err(e) => return Err(io::Error::from(e).into()),
    }
    stream.peer_addr()?;
    Ok(())
}

/// A connected TCP socket as a ureq transport: ureq's own `TcpTransport` (whose constructor
/// ureq keeps to itself), with the same timeouts, retries of reads interrupted by a signal and
/// liveness probe for pooling.
pub struct TcpTransport {
    /// In an `Arc` so that the agent's shutdown handle (a `Weak` of it) can shut the socket
    /// down while it is in use.
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    timeout_read: Option<Duration>,
    timeout_write: Option<Duration>,
}

impl TcpTransport {
    /// A transport over `stream` with `buffers`.
    fn new(stream: TcpStream, buffers: LazyBuffers) -> TcpTransport {
        TcpTransport {
            stream: Arc::new(stream),
            buffers,
            timeout_read: None,
            timeout_write: None,
        }
    }

    /// The handle `Agent::shutdown` shuts the socket down with (ureq's, for a `TcpStream`).
    fn shutdown_handle(&self) -> Weak<dyn ShutdownHandle> {
        Arc::downgrade(&self.stream) as Weak<dyn ShutdownHandle>
    }
}

/// Sets a socket timeout with `set` unless it is `previous` already, remembering it.
fn update_timeout(
    previous: &mut Option<Duration>,
    timeout: Option<Duration>,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    if *previous == timeout {
        return Ok(());
    }
    match set(timeout) {
        Ok(()) => *previous = timeout,
        // macOS can refuse a new timeout once the peer closed with request data unread, while
        // the response may still be readable: the I/O tells the outcome (as in ureq).
        Err(e) if cfg!(target_vendor = "apple") && e.kind() == io::ErrorKind::InvalidInput => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// `timeout` (already capped for a read or a write) as a socket timeout, or its error when
/// it has run out.
fn socket_timeout(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|t| *t))
}

/// An I/O error as ureq's, a socket timeout as `Timeout(reason)`.
fn io_error(e: io::Error, reason: Timeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(reason),
        _ => e.into(),
    }
}

impl Transport for TcpTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = socket_timeout(timeout)?;
        let stream = &*self.stream;
        update_timeout(&mut self.timeout_write, limit, |t| {
            stream.set_write_timeout(t)
        })?;
        let output = &self.buffers.output()[..amount];
        (&*self.stream)
            .write_all(output)
            .map_err(|e| io_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let limit = socket_timeout(timeout)?;
        let stream = &*self.stream;
        update_timeout(&mut self.timeout_read, limit, |t| {
            stream.set_read_timeout(t)
        })?;
        let started = Instant::now();
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&*self.stream).read(input) {
                // Linux does not restart a socket read with a timeout after a signal: read
                // again for what is left of the timeout.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let Some(limit) = limit else {
                        return Err(e.into());
                    };
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                    update_timeout(&mut self.timeout_read, Some(left), |t| {
                        stream.set_read_timeout(t)
                    })?;
                }
                result => break result.map_err(|e| io_error(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        probe(&self.stream).unwrap_or(false)
    }
}

/// Whether an idle connection is still usable: open, and with nothing unasked-for to read.
fn probe(mut stream: &TcpStream) -> io::Result<bool> {
    stream.set_nonblocking(true)?;
    let mut buf = [0];
    let open = match stream.read(&mut buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
        // Bytes the server sent unasked, or the connection closed.
        _ => false,
    };
    stream.set_nonblocking(false)?;
    Ok(open)
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("addr", &self.stream.peer_addr().ok())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn round_robin_picks_one_address_and_each_in_turn_of_the_random_numbers() {
        let addrs: Vec<SocketAddr> = ["127.0.0.1:1", "127.0.0.2:1", "[::1]:1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        for random in 0..6_u64 {
            let chosen = choose_one(&addrs, random);
            assert_eq!(chosen, &addrs[random as usize % 3..=random as usize % 3]);
        }
        assert_eq!(choose_one(&addrs, u64::MAX).len(), 1);
        assert!(choose_one(&[], 7).is_empty());
        // The random numbers do pick every address.
        let mut seen = [false; 3];
        for _ in 0..300 {
            let chosen = choose_one(&addrs, random())[0];
            seen[addrs.iter().position(|a| *a == chosen).unwrap()] = true;
        }
        assert_eq!(seen, [true; 3], "300 draws reach every address");
    }

    /// A listener whose accept queue (one connection) is full, so a connect to it hangs; with
    /// the connection filling it.
    fn unanswering() -> (TcpListener, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        rustix::net::listen(&listener, 0).unwrap();
        let filler = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener, filler)
    }

    #[test]
    fn round_robin_connects_to_one_address_only_without_falling_back() {
        let live = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let addrs = [dead, live.local_addr().unwrap()];
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::from_secs(5),
            ..NextTimeout::default()
        };
        // Every address in turn: the dead one is skipped, each connect succeeds.
        let in_turn = InterruptibleTcpConnector::new(Interrupted::default(), false);
        for _ in 0..10 {
            let stream = in_turn.connect_stream(&addrs, timeout).expect("falls back");
            assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
        }
        // One at random: a connect to the dead address fails, with no second try.
        let round_robin = InterruptibleTcpConnector::new(Interrupted::default(), true);
        let (mut refused, mut connected) = (0, 0);
        for _ in 0..60 {
            match round_robin.connect_stream(&addrs, timeout) {
                Ok(stream) => {
                    assert_eq!(stream.peer_addr().unwrap(), addrs[1]);
                    connected += 1;
                }
                Err(ureq::Error::Io(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    refused += 1
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(
            refused > 0 && connected > 0,
            "{refused} refused, {connected} connected"
        );
    }

    #[test]
    fn connects_and_is_refused_like_a_blocking_connect() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = connect_one(addr, Some(Duration::from_secs(5)), &Interrupted::default())
            .expect("connects");
        assert_eq!(stream.peer_addr().unwrap(), addr);
        let (mut accepted, _) = listener.accept().unwrap();
        (&stream).write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        drop(listener);
        let error = connect_any(&[addr], NextTimeout::default(), &Interrupted::default())
            .expect_err("nothing listens");
        assert!(
            matches!(&error, ureq::Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{error:?}"
        );
    }

    #[test]
    fn a_hanging_connect_times_out_at_its_limit() {
        let (listener, _filler) = unanswering();
        let started = Instant::now();
        let error = connect_one(
            listener.local_addr().unwrap(),
            Some(Duration::from_millis(200)),
            &Interrupted::default(),
        )
        .expect_err("hangs");
        let took = started.elapsed();
        assert!(
            matches!(error, ureq::Error::Timeout(Timeout::Connect)),
            "{error:?}"
        );
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(1),
            "{took:?}"
        );
    }

    #[test]
    fn a_hanging_connect_fails_within_a_slice_once_interrupted() {
        let (listener, _filler) = unanswering();
        let interrupted = Interrupted::default();
        let setter = {
            let interrupted = interrupted.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                interrupted.set();
                Instant::now()
            })
        };
        let error = connect_one(listener.local_addr().unwrap(), None, &interrupted)
            .expect_err("interrupted");
        let late = setter.join().unwrap().elapsed();
        assert!(
            matches!(&error, ureq::Error::Io(e) if e.kind() == io::ErrorKind::NotConnected),
            "{error:?}"
        );
        assert!(late < SLICE + Duration::from_millis(100), "{late:?}");
        // Once interrupted, a connect does not start.
        let started = Instant::now();
        assert!(connect_one(listener.local_addr().unwrap(), None, &interrupted).is_err());
        assert!(started.elapsed() < Duration::from_millis(20));
    }
}
