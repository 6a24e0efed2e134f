//! Test and benchmark peers on this machine's TCP: a transfer server and client that move a
//! reproducible byte pattern each way and check both directions by SHA-256 while streaming
//! (so 64 MiB per connection costs no 64 MiB buffers), a one-way server for measuring each
//! direction alone, and an echo server.

use std::net::SocketAddr;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes per read or write.
const CHUNK: usize = 64 * 1024;

/// A reproducible stream of bytes (xorshift64) for a seed.
#[derive(Debug, Clone)]
pub struct Pattern(u64);

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Pattern {
        Pattern(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Fills `buf` with the next bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *byte = self.0 as u8;
        }
    }

    /// The SHA-256 of the first `size` bytes of the stream for `seed`.
    pub fn digest(seed: u64, size: usize) -> [u8; 32] {
        let mut pattern = Pattern::new(seed);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut left = size;
        while left > 0 {
            let n = left.min(CHUNK);
            pattern.fill(&mut buf[..n]);
            hasher.update(&buf[..n]);
            left -= n;
        }
        hasher.finalize().into()
    }
}

async fn send_pattern(
    write: &mut (impl AsyncWriteExt + Unpin),
    seed: u64,
    size: usize,
) -> std::io::Result<()> {
    let mut pattern = Pattern::new(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK);
        pattern.fill(&mut buf[..n]);
        write.write_all(&buf[..n]).await?;
        left -= n;
    }
    Ok(())
}

async fn hash_exactly(
    read: &mut (impl AsyncReadExt + Unpin),
    size: usize,
) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = size;
    while left > 0 {
        let n = read.read(&mut buf[..left.min(CHUNK)]).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the peer closed with {left} bytes to go"),
            ));
        }
        hasher.update(&buf[..n]);
        left -= n;
    }
    Ok(hasher.finalize().into())
}

/// A server on a free loopback port: per connection it reads an 8-byte index, then sends `size`
/// bytes of the pattern `index + 1000` while reading `size` bytes, then sends the SHA-256 of
/// what it read.
pub async fn transfer_server(size: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let port = listener.local_addr().expect("a bound listener").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let mut index = [0u8; 8];
                if read.read_exact(&mut index).await.is_err() {
                    return;
                }
                let index = u64::from_be_bytes(index);
                let sender = tokio::spawn(async move {
                    send_pattern(&mut write, index + 1000, size).await.map(|()| write)
                });
                let Ok(digest) = hash_exactly(&mut read, size).await else { return };
                if let Ok(Ok(mut write)) = sender.await {
                    let _ = write.write_all(&digest).await;
                }
            });
        }
    });
    port
}

/// One connection to a [`transfer_server`] at `addr` (usually through a tunnel): moves `size`
/// bytes each way and checks both by SHA-256. The error says which direction broke.
pub async fn transfer_client(addr: SocketAddr, index: u64, size: usize) -> Result<(), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connection {index}: cannot connect to {addr}: {e}"))?;
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&index.to_be_bytes()).await?;
        send_pattern(&mut write, index, size).await?;
        Ok::<_, std::io::Error>(write) // the write side stays open until the reply is read
    });
    let down = hash_exactly(&mut read, size)
        .await
        .map_err(|e| format!("connection {index}: download: {e}"))?;
    let mut up = [0u8; 32];
    read.read_exact(&mut up)
        .await
        .map_err(|e| format!("connection {index}: reading the upload's digest: {e}"))?;
    let _write = writer
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("connection {index}: upload: {e}"))?;
    if down != Pattern::digest(index + 1000, size) {
        return Err(format!("connection {index}: the download arrived corrupted"));
    }
    if up != Pattern::digest(index, size) {
        return Err(format!("connection {index}: the upload arrived corrupted"));
    }
    Ok(())
}

/// A server on a free loopback port for one direction at a time. The client sends a 9-byte
/// request, `D` or `U` and a big-endian u64 size: for `D` the server sends that many bytes of
/// the pattern for seed 0 and closes; for `U` it reads that many bytes and answers their
/// SHA-256.
pub async fn one_way_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let port = listener.local_addr().expect("a bound listener").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 9];
                if stream.read_exact(&mut request).await.is_err() {
                    return;
                }
                let size = u64::from_be_bytes(request[1..].try_into().expect("8 bytes")) as usize;
                match request[0] {
                    b'D' => {
                        let _ = send_pattern(&mut stream, 0, size).await;
                        let _ = stream.shutdown().await;
                    }
                    b'U' => {
                        if let Ok(digest) = hash_exactly(&mut stream, size).await {
                            let _ = stream.write_all(&digest).await;
                        }
                    }
                    _ => {}
                }
            });
        }
    });
    port
}

/// Downloads `size` bytes from a [`one_way_server`] at `addr` and checks them.
pub async fn download(addr: SocketAddr, size: usize) -> Result<(), String> {
    let mut stream =
        TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let mut request = [b'D'; 9];
    request[1..].copy_from_slice(&(size as u64).to_be_bytes());
    stream.write_all(&request).await.map_err(|e| format!("download request: {e}"))?;
    let digest = hash_exactly(&mut stream, size).await.map_err(|e| format!("download: {e}"))?;
    if digest != Pattern::digest(0, size) {
        return Err("the download arrived corrupted".into());
    }
    Ok(())
}

/// Uploads `size` bytes to a [`one_way_server`] at `addr`; returns once the server has
/// confirmed every byte by its SHA-256.
pub async fn upload(addr: SocketAddr, size: usize) -> Result<(), String> {
    let mut stream =
        TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let mut request = [b'U'; 9];
    request[1..].copy_from_slice(&(size as u64).to_be_bytes());
    stream.write_all(&request).await.map_err(|e| format!("upload request: {e}"))?;
    send_pattern(&mut stream, 0, size).await.map_err(|e| format!("upload: {e}"))?;
    let mut digest = [0u8; 32];
    stream
        .read_exact(&mut digest)
        .await
        .map_err(|e| format!("reading the upload's digest: {e}"))?;
    if digest != Pattern::digest(0, size) {
        return Err("the upload arrived corrupted".into());
    }
    Ok(())
}

/// A server on a free loopback port that talks without being asked: on its n-th connection
/// (from 0) it sends the byte `b'A' + n % 26` over and over, as fast as the connection takes it,
/// until the connection closes; what it receives is read and dropped. Which connection a byte
/// came from is in the byte.
pub async fn tagged_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let port = listener.local_addr().expect("a bound listener").port();
    tokio::spawn(async move {
        let mut n = 0u8;
        while let Ok((stream, _)) = listener.accept().await {
            let tag = b'A' + n % 26;
            n = n.wrapping_add(1);
            let (mut read, mut write) = stream.into_split();
            tokio::spawn(async move {
                let mut sink = [0u8; 1024];
                while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
            });
            tokio::spawn(async move { while write.write_all(&[tag; 1024]).await.is_ok() {} });
        }
    });
    port
}

/// A server on a free loopback port that sends back whatever it receives.
pub async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let port = listener.local_addr().expect("a bound listener").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.into_split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_direct_transfer_checks_out_and_a_wrong_size_does_not() {
        let port = transfer_server(300_000).await;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        transfer_client(addr, 1, 300_000).await.unwrap();
        // A client expecting more than the server sends sees the server's digest as data.
        assert!(transfer_client(addr, 2, 299_000).await.is_err());
    }

    #[tokio::test]
    async fn one_way_transfers_check_out() {
        let addr = SocketAddr::from(([127, 0, 0, 1], one_way_server().await));
        download(addr, 200_000).await.unwrap();
        upload(addr, 200_000).await.unwrap();
    }
}
