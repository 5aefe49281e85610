// init-d's event loop: one epoll set for the listening socket, client
// connections, process output, stdin pipes, signals and the stop timer.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "initd/frame.h"
#include "initd/request.h"
#include "initd/ring.h"

namespace initd {

struct Options {
  std::string socket_path;
  size_t buffer = 0;  // unsent output kept per stream before the process blocks
  size_t replay = 0;  // sent output kept per stream for re-attaching
  int shutdown_timeout_ms = 0;
};

class Loop;
struct Process;
struct Conn;

// What an epoll event points at.
struct Watch {
  enum Kind : uint8_t { kListener, kSignals, kTimer, kConn, kOutput, kStdin, kSink } kind;
  void* target = nullptr;
  int stream = 0;
};

struct Stream {
  explicit Stream(size_t cap) : ring(cap) {}
  int fd = -1;
  Ring ring;
  uint64_t delivered = 0;  // everything before this was written to some connection
  bool eof = false;
  bool reading = false;    // registered for EPOLLIN
  Watch watch{Watch::kOutput};
};

struct Process {
  Process(size_t cap) : out{Stream(cap), Stream(cap)} {}
  std::string id;
  pid_t pid = 0;
  bool tty = false;
  bool direct = false;
  bool running = true;
  int code = -1;
  uint64_t exited_seq = 0;
  int master = -1;  // pty master (tty only), kept for resize
  int stdin_fd = -1;
  bool stdin_watched = false;
  std::string stdin_buf;
  bool stdin_close = false;  // close once stdin_buf is written
  Stream out[2];
  std::vector<Conn*> attached;
  std::vector<Conn*> waiters;
  Watch stdin_watch{Watch::kStdin};

  bool finished() const { return !running && out[0].eof && out[1].eof; }
};

struct Conn {
  int fd = -1;
  // kDraining: everything is said and our side shut down; we read until the
  // peer closes, so a close with its unread bytes cannot reset our last frame.
  enum State { kRequest, kAttached, kWaiting, kStopping, kDraining } state = kRequest;
  FrameReader reader;
  std::deque<int> fds;   // fds received with frames, consumed by direct spawns
  std::string ctl;       // small frames waiting to be written
  int ctl_fd = -1;       // fd to pass with the first byte of ctl
  Process* proc = nullptr;
  uint64_t cursor[2] = {0, 0};
  // The "out" frame being written: header bytes, then ring bytes.
  bool pending = false;
  int pending_stream = 0;
  std::string pending_hdr;
  uint64_t pending_off = 0;
  size_t pending_len = 0, pending_done = 0;
  bool exit_queued = false;
  bool close_after_flush = false;
  bool read_eof = false;
  uint32_t events = 0;
  Watch watch{Watch::kConn};
  // Streams this connection consumes; a muted one neither gets frames nor holds bytes back.
  bool wants[2] = {true, true};
  bool mute_ack[2] = {false, false};  // a "muted" frame is owed once in-flight output is out
  // A sink attachment writes one stream's raw bytes into sink_fd (a caller's
  // socket or pipe) instead of framing them onto this connection.
  int sink_stream = 0;
  int sink_fd = -1;
  bool sink_watched = false;
  bool sink_broken = false;  // the reader went away: the rest is discarded
  Watch sink_watch{Watch::kSink};
};

class Loop {
 public:
  explicit Loop(Options opts) : opts_(std::move(opts)) {}
  // Sets up the socket and signals; false (after logging) if that fails.
  bool start();
  // Runs until shutdown completes; returns the exit status for init-d.
  int run();

 private:
  // Connections
  void accept_all();
  void on_conn(Conn* c, uint32_t events);
  void read_conn(Conn* c);
  void handle_frame(Conn* c, const Value& frame);
  void handle_request(Conn* c, const Request& req);
  void handle_stream_message(Conn* c, const StreamMessage& msg);
  void flush(Conn* c);
  void flush_sink(Conn* c);
  void close_sink(Conn* c);
  void on_sink(Conn* c, uint32_t events);
  void drop(Conn* c);
  void set_events(Conn* c, uint32_t events);
  void update_conn_events(Conn* c);
  void reply_error(Conn* c, const char* code, const std::string& message);
  void queue(Conn* c, const std::string& body, int fd = -1);

  // Operations
  void op_spawn(Conn* c, const SpawnRequest& req);
  void op_attach(Conn* c, const AttachRequest& req);
  void op_list(Conn* c);
  void op_stop(Conn* c, bool kill, int timeout_ms);
  void attach(Conn* c, Process* p, uint64_t from_out, uint64_t from_err);

  // Processes
  Process* find(const std::string& id);
  void on_output(Process* p, int s);
  void read_output(Process* p, int s);
  void close_output(Process* p, int s);
  void after_progress(Process* p);
  void on_stdin(Process* p);
  void write_stdin(Process* p);
  void deliver_signal(Process* p, int sig);
  void resize(Process* p, uint16_t cols, uint16_t rows);
  void reap();
  void on_exit(Process* p, int status);
  void trim_exited();

  // Signals and stopping
  void on_signals();
  void signal_all(int sig);
  void arm_timer(int ms);
  void on_timer();
  bool no_children();
  void check_stopped();

  void watch_fd(int fd, Watch* w, uint32_t events);
  void modify_fd(int fd, Watch* w, uint32_t events);

  Options opts_;
  int epfd_ = -1, listen_fd_ = -1, sig_fd_ = -1, timer_fd_ = -1;
  Watch listen_watch_{Watch::kListener}, sig_watch_{Watch::kSignals}, timer_watch_{Watch::kTimer};
  std::map<std::string, std::unique_ptr<Process>> procs_;
  std::map<pid_t, Process*> by_pid_;
  std::map<int, std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> stop_waiters_;
  std::vector<std::unique_ptr<Conn>> dead_conns_;     // freed after the event batch
  std::vector<std::unique_ptr<Process>> dead_procs_;
  uint64_t exit_seq_ = 0;
  bool stopping_ = false;        // a stop op is killing everything
  bool shutting_down_ = false;   // init-d itself got SIGTERM
  bool pid1_ = false;
};

}  // namespace initd
