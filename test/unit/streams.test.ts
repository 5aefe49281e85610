// The server's OutputSink handing its reader's socket to a backend (direct
// output): real sockets, and a stand-in backend that writes into its own copy
// of the fd, as init-d does with the copy it receives over SCM_RIGHTS.

import test from 'ava';
import { writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { directOutput } from '../../src/api/direct-output.js';
import { closeFd, recvFds, sendFds, socketpair } from '../../src/initd/native.js';
import { OutputSink } from '../../src/server/streams.js';
import { hijackHead } from '../../src/wire/http.js';

/** A connected pair: the server's side (what OutputSink gets) and the reader's. */
async function connection(): Promise<{ server: net.Socket; reader: net.Socket }> {
  const where = path.join(tmpdir(), `sink-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(where, r));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const reader = net.connect(where);
  const server = await accepted;
  listener.close();
  return { server, reader };
}

/** An fd of our own for the same open socket, passed through SCM_RIGHTS as init-d gets it. */
async function copyOf(fd: number): Promise<number> {
  const [a, b] = socketpair();
  await sendFds(a, Buffer.from('x'), [fd]);
  const { fds } = await recvFds(b, 1, 1);
  closeFd(a);
  closeFd(b);
  return fds[0];
}

function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d) => (text += d));
    s.on('end', () => resolve(text));
  });
}

test('direct output: relayed bytes first, then the backend writes into the same connection, and its close is the EOF', async (t) => {
  const sink = new OutputSink({ maxPending: 1 << 20, unclaimedMs: 60_000 });
  sink.write(Buffer.from('relayed before the reader came\n'));
  const { server, reader } = await connection();
  const received = readAll(reader);
  let fdAsked = false;
  let ended = 0;
  let ours = -1;
  const taken = new Promise<void>((resolve) => {
    sink[directOutput](async (fdOf) => {
      sink.write(Buffer.from('relayed while handing over\n')); // still on its way when the backend takes over
      const fd = await fdOf();
      fdAsked = true;
      if (fd === null) return null;
      ours = await copyOf(fd);
      setImmediate(resolve);
      return () => ended++;
    });
  });
  sink.connect(server);
  await taken;
  t.true(fdAsked);
  t.true(server.destroyed, 'the server lets go of its own handle');
  writeSync(ours, 'written by the backend\n');
  closeFd(ours);
  t.is(await received, hijackHead(200, false) + 'relayed before the reader came\nrelayed while handing over\nwritten by the backend\n');
  sink.end();
  await new Promise((r) => setImmediate(r));
  t.is(ended, 1, 'the end of the attachment ends the direct output');
});

test('direct output: a reader gone before the hand-over gets no fd, and the backend is told', async (t) => {
  const sink = new OutputSink({ maxPending: 1 << 20, unclaimedMs: 60_000 });
  const { server, reader } = await connection();
  let given: number | null | undefined;
  const asked = new Promise<void>((resolve) => {
    sink[directOutput](async (fdOf) => {
      reader.destroy();
      await new Promise((r) => server.once('close', r));
      given = await fdOf();
      resolve();
      return null;
    });
  });
  sink.connect(server);
  await asked;
  t.is(given, null);
});
