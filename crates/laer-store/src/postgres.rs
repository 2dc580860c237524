//! PostgreSQL: for several laer nodes sharing one database.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::StoreError;
use crate::sql::Value;

pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let options: PgConnectOptions = url.parse()?;
    let port = options.get_port();
    Ok(PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |_, _| {
            Box::pin(async move {
                disable_nagle(port);
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// Sets TCP_NODELAY on this process's TCP connections to `port`. sqlx 0.9.0 leaves
/// Nagle's algorithm on (sqlx issue 4335, fixed after that release): a statement larger
/// than one TLS record then waits about 40 ms for the server's delayed ACK.
#[cfg(target_os = "linux")]
fn disable_nagle(port: u16) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<libc::c_int>().ok()) else {
            continue;
        };
        if peer_port(fd) == Some(port) {
            let on: libc::c_int = 1;
            // SAFETY: plain system calls on a descriptor number with a buffer of the size
            // passed; a descriptor closed or reused meanwhile only makes the call fail.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn peer_port(fd: libc::c_int) -> Option<u16> {
    // SAFETY: getpeername writes at most `len` bytes into `address`, which holds any address.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let found = unsafe { libc::getpeername(fd, (&mut address as *mut libc::sockaddr_storage).cast(), &mut len) };
    if found != 0 {
        return None;
    }
    match libc::c_int::from(address.ss_family) {
        // SAFETY: the family says which address structure getpeername wrote.
        libc::AF_INET => Some(u16::from_be(unsafe {
            (*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port
        })),
        libc::AF_INET6 => Some(u16::from_be(unsafe {
            (*(&address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()).sin6_port
        })),
        _ => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn disable_nagle(_port: u16) {}

pub(crate) fn bind<'q>(
    query: sqlx::query::Query<'q, Postgres, PgArguments>,
    value: Value,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    crate::sql::bind_value!(query, value)
}

pub(crate) fn bind_as<'q, T>(
    query: sqlx::query::QueryAs<'q, Postgres, T, PgArguments>,
    value: Value,
) -> sqlx::query::QueryAs<'q, Postgres, T, PgArguments> {
    crate::sql::bind_value!(query, value)
}
