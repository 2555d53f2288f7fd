/* engine_io: what one frame costs the link engine in system calls, per way of moving frames.
 *
 * Built and driven by bench/engine_io.py, inside a namespace the benchmark made:
 *   engine_io src IFACE SIZE SECONDS CPU RATE
 *       writes SIZE-byte frames into IFACE for SECONDS: RATE 0 as fast as it can (AF_PACKET, sendmmsg
 *       of 64), else RATE frames/s one at a time, each carrying the CLOCK_MONOTONIC time it was sent;
 *   engine_io fwd METHOD IN OUT SINK WARMUP_S WINDOW_S CPU STAMP
 *       moves frames from IN to OUT with METHOD, pinned to CPU; prints "ready" once it listens, then,
 *       WARMUP_S after its first frames, measures WINDOW_S and prints one line of key=value results.
 *       SINK is the device whose rx_packets counter shows the frames really arrived. STAMP 1: also
 *       how long each frame waited between its send and the forwarder holding it (p50/p99/max, us).
 * METHOD: tap   read()/write() on two TAPs, one frame per call (what the engine does today)
 *         pkt   AF_PACKET recv()/send() on veth ends, one frame per call
 *         mmsg  AF_PACKET recvmmsg()/sendmmsg() on veth ends, up to 64 frames per call
 *         ring  AF_PACKET TPACKET_V3 RX ring on IN, sendmmsg() on OUT
 *         uring io_uring on two TAPs: up to 64 reads in flight, writes queued as reads complete
 *   engine_io syscall CPU
 *       the round trip of one trivial system call (getppid), in ns.
 * Exit status 2 with a message on stderr when a call fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUF 2048
#define ETHERTYPE 0x88b5 /* IEEE local experimental: no protocol handler takes it, so sinks drop it cheaply */

static void die(const char *what) {
    fprintf(stderr, "engine_io: %s: %s\n", what, strerror(errno));
    exit(2);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(const struct rusage *r) {
    return (double)(r->ru_utime.tv_sec + r->ru_stime.tv_sec) + (double)(r->ru_utime.tv_usec + r->ru_stime.tv_usec) * 1e-6;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static long rx_packets(const char *dev) {
    char path[128], text[32] = {0};
    snprintf(path, sizeof path, "/sys/class/net/%s/statistics/rx_packets", dev);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    return n > 0 ? atol(text) : -1;
}

static unsigned ifindex(const char *dev) {
    unsigned i = if_nametoindex(dev);
    if (i == 0) die(dev);
    return i;
}

/* ---- the measurement window ------------------------------------------------------------------ */

static uint64_t g_frames, g_calls, g_fail, g_last;
static double g_warmup, g_window, g_t_first, g_t0;
static int g_state; /* 0 no frame yet, 1 warming up, 2 measuring */
static uint64_t g_f0, g_c0, g_x0;
static struct rusage g_r0;
static long g_sink0;
static const char *g_sink;
static int g_stamp;
#define MAX_SAMPLES 200000
static double g_wait[MAX_SAMPLES];
static size_t g_nwait;

/* With STAMP: the time since the source sent this frame (it wrote its send time after the header). */
static inline void stamp(const void *frame) {
    if (!g_stamp || g_state != 2 || g_nwait == MAX_SAMPLES) return;
    double sent;
    memcpy(&sent, (const uint8_t *)frame + 14, sizeof sent);
    g_wait[g_nwait++] = now() - sent;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void print_waits(void) {
    if (!g_stamp || g_nwait == 0) return;
    qsort(g_wait, g_nwait, sizeof g_wait[0], cmp_double);
    printf(" wait_p50_us=%.1f wait_p99_us=%.1f wait_max_us=%.1f", g_wait[g_nwait / 2] * 1e6,
           g_wait[g_nwait * 99 / 100] * 1e6, g_wait[g_nwait - 1] * 1e6);
}

/* Called after every batch (every frame in the one-frame methods); reads the clock only every 32
 * frames so the per-frame methods do not pay for the measurement. Returns 1 when the window is over. */
static int tick(void) {
    if (g_frames - g_last < 32) return 0;
    g_last = g_frames;
    double t = now();
    if (g_state == 0) {
        g_t_first = t;
        g_state = 1;
    } else if (g_state == 1 && t - g_t_first >= g_warmup) {
        g_t0 = t;
        g_f0 = g_frames;
        g_c0 = g_calls;
        g_x0 = g_fail;
        g_sink0 = rx_packets(g_sink);
        getrusage(RUSAGE_SELF, &g_r0);
        g_state = 2;
    } else if (g_state == 2 && t - g_t0 >= g_window) {
        struct rusage r;
        getrusage(RUSAGE_SELF, &r);
        long sink = rx_packets(g_sink);
        printf("frames=%llu seconds=%.6f cpu_s=%.6f calls=%llu failed=%llu sink_rx=%ld vcsw=%ld ivcsw=%ld",
               (unsigned long long)(g_frames - g_f0), t - g_t0, cpu_s(&r) - cpu_s(&g_r0),
               (unsigned long long)(g_calls - g_c0), (unsigned long long)(g_fail - g_x0),
               sink >= 0 && g_sink0 >= 0 ? sink - g_sink0 : -1L, r.ru_nvcsw - g_r0.ru_nvcsw, r.ru_nivcsw - g_r0.ru_nivcsw);
        print_waits();
        printf("\n");
        fflush(stdout);
        return 1;
    }
    return 0;
}

/* SCHED_FIFO 10, as the engine daemon runs by default (docs/engine.md): the forwarder gets its core
 * whatever else the shared machine runs, so frames/s is its own capacity. */
static void realtime(void) {
    struct sched_param sp = {.sched_priority = 10};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) die("sched_setscheduler SCHED_FIFO");
}

static void ready(void) {
    printf("ready\n");
    fflush(stdout);
}

/* ---- devices ---------------------------------------------------------------------------------- */

static int tap_open(const char *name, int nonblock) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) die("TUNSETIFF");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die("SIOCGIFFLAGS");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die("SIOCSIFFLAGS");
    close(s);
    return fd;
}

static void set_int(int fd, int level, int opt, int v, const char *what) {
    if (setsockopt(fd, level, opt, &v, sizeof v) != 0) die(what);
}

static void bind_ll(int fd, const char *dev, int proto) {
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = (unsigned short)htons((unsigned short)proto);
    sll.sll_ifindex = (int)ifindex(dev);
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) die("bind AF_PACKET");
}

/* A receiving socket (bound by the caller, after any ring is set up): every frame that arrives,
 * none that leave. */
static int pkt_rx(int ring_version) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) die("socket AF_PACKET");
    set_int(fd, SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20, "SO_RCVBUFFORCE");
    set_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
    if (ring_version) set_int(fd, SOL_PACKET, PACKET_VERSION, ring_version, "PACKET_VERSION");
    return fd;
}

/* A sending socket on dev: protocol 0 hooks no receive path; the qdisc is skipped, as an engine
 * that does its own queueing would. */
static int pkt_tx(const char *dev) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket AF_PACKET");
    set_int(fd, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20, "SO_SNDBUFFORCE");
    set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
    bind_ll(fd, dev, 0);
    return fd;
}

static int is_drop(int e) { return e == ENOBUFS || e == EAGAIN || e == EWOULDBLOCK; }

/* sendmmsg all of msgs[0..n); a frame the device refuses (full queue) is counted failed, not retried. */
static void send_all(int fd, struct mmsghdr *msgs, int n) {
    int off = 0;
    while (off < n) {
        int s = sendmmsg(fd, msgs + off, (unsigned)(n - off), 0);
        g_calls++;
        if (s < 0) {
            if (errno == EINTR) continue;
            if (!is_drop(errno)) die("sendmmsg");
            g_fail++;
            off++;
            continue;
        }
        g_frames += (uint64_t)s;
        off += s;
    }
}

/* ---- the forwarders --------------------------------------------------------------------------- */

static char bufs[2 * BATCH][BUF];

static void fwd_tap(const char *in, const char *out) {
    int a = tap_open(in, 0), b = tap_open(out, 0);
    ready();
    for (;;) {
        ssize_t n = read(a, bufs[0], BUF);
        g_calls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            die("read TAP");
        }
        stamp(bufs[0]);
        ssize_t w = write(b, bufs[0], (size_t)n);
        g_calls++;
        if (w == n) g_frames++;
        else if (w < 0 && !is_drop(errno)) die("write TAP");
        else g_fail++;
        if (tick()) return;
    }
}

static void fwd_pkt(const char *in, const char *out) {
    int a = pkt_rx(0), b = pkt_tx(out);
    bind_ll(a, in, ETH_P_ALL);
    ready();
    for (;;) {
        ssize_t n = recv(a, bufs[0], BUF, 0);
        g_calls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            die("recv");
        }
        stamp(bufs[0]);
        ssize_t w = send(b, bufs[0], (size_t)n, 0);
        g_calls++;
        if (w == n) g_frames++;
        else if (w < 0 && !is_drop(errno)) die("send");
        else g_fail++;
        if (tick()) return;
    }
}

static struct mmsghdr rmsg[BATCH], smsg[BATCH];
static struct iovec riov[BATCH], siov[BATCH];

static void msgs_init(void) {
    for (int i = 0; i < BATCH; i++) {
        riov[i].iov_base = siov[i].iov_base = bufs[i];
        riov[i].iov_len = BUF;
        rmsg[i].msg_hdr.msg_iov = &riov[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
    }
}

static void fwd_mmsg(const char *in, const char *out) {
    int a = pkt_rx(0), b = pkt_tx(out);
    bind_ll(a, in, ETH_P_ALL);
    msgs_init();
    ready();
    for (;;) {
        /* MSG_WAITFORONE: block for the first frame, then take whatever else is queued. */
        int n = recvmmsg(a, rmsg, BATCH, MSG_WAITFORONE, NULL);
        g_calls++;
        if (n < 0) {
            if (errno == EINTR) continue;
            die("recvmmsg");
        }
        for (int i = 0; i < n; i++) {
            siov[i].iov_len = rmsg[i].msg_len;
            stamp(bufs[i]);
        }
        send_all(b, smsg, n);
        if (tick()) return;
    }
}

static void fwd_ring(const char *in, const char *out) {
    int a = pkt_rx(TPACKET_V3), b = pkt_tx(out);
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = 1 << 18;
    req.tp_block_nr = 64;
    req.tp_frame_size = BUF;
    req.tp_frame_nr = (req.tp_block_size / BUF) * req.tp_block_nr;
    req.tp_retire_blk_tov = 1; /* ms: a block that is not full is handed over after this long */
    if (setsockopt(a, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) die("PACKET_RX_RING");
    size_t size = (size_t)req.tp_block_size * req.tp_block_nr;
    uint8_t *ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, a, 0);
    if (ring == MAP_FAILED) die("mmap ring");
    bind_ll(a, in, ETH_P_ALL);
    msgs_init();
    ready();
    unsigned cur = 0;
    for (;;) {
        struct tpacket_block_desc *bd = (void *)(ring + (size_t)cur * req.tp_block_size);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            struct pollfd p = {.fd = a, .events = POLLIN | POLLERR};
            poll(&p, 1, 1000);
            g_calls++;
            continue;
        }
        struct tpacket3_hdr *h = (void *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
        int k = 0;
        for (unsigned i = 0; i < bd->hdr.bh1.num_pkts; i++) {
            siov[k].iov_base = (uint8_t *)h + h->tp_mac;
            siov[k].iov_len = h->tp_snaplen;
            stamp(siov[k].iov_base);
            if (++k == BATCH) {
                send_all(b, smsg, k);
                k = 0;
            }
            h = (void *)((uint8_t *)h + h->tp_next_offset);
        }
        send_all(b, smsg, k);
        /* sendmmsg copied the frames: the block can go back to the kernel. */
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        cur = (cur + 1) % req.tp_block_nr;
        if (tick()) return;
    }
}

/* io_uring without liburing (not packaged in Debian 12's default set): the raw rings. */
struct uring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    unsigned tail;
};

static void uring_init(struct uring *u, unsigned entries) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    /* One thread submits and reaps: completions' task work waits for our io_uring_enter instead of
     * interrupting us (DEFER_TASKRUN, 6.1+). */
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    u->fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (u->fd < 0) die("io_uring_setup");
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP) sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
    uint8_t *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) die("mmap SQ ring");
    uint8_t *cq = sq;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        cq = mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_CQ_RING);
        if (cq == MAP_FAILED) die("mmap CQ ring");
    }
    u->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   u->fd, IORING_OFF_SQES);
    if (u->sqes == MAP_FAILED) die("mmap SQEs");
    u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    u->sq_array = (unsigned *)(sq + p.sq_off.array);
    u->cq_head = (unsigned *)(cq + p.cq_off.head);
    u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    u->tail = *u->sq_tail;
}

static void uring_prep(struct uring *u, int op, int fd, void *buf, unsigned len, uint64_t data) {
    unsigned idx = u->tail & *u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = (uint8_t)op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buf;
    sqe->len = len;
    sqe->off = (uint64_t)-1; /* TAPs are streams: no offset */
    sqe->user_data = data;
    u->sq_array[idx] = idx;
    u->tail++;
}

static void fwd_uring(const char *in, const char *out) {
    /* A read of an empty TAP does not come back -EAGAIN (tun lacks FMODE_NOWAIT): io_uring arms a
     * poll and completes the read when a frame arrives. So reads stay in flight across rounds, and
     * each io_uring_enter submits the new writes and reads and waits for one completion. Every armed
     * read wakes for each frame, so the number in flight follows the load: twice what the last round
     * read, 1 to 64. */
    int a = tap_open(in, 1), b = tap_open(out, 1);
    struct uring u;
    uring_init(&u, 4 * BATCH);
    enum { FREE, READING, WRITING } state[BATCH];
    for (int i = 0; i < BATCH; i++) state[i] = FREE;
    int reading = 0, target = BATCH;
    unsigned queued = 0;
    ready();
    for (;;) {
        for (int i = 0; i < BATCH && reading < target; i++) {
            if (state[i] != FREE) continue;
            uring_prep(&u, IORING_OP_READ, a, bufs[i], BUF, (unsigned)i);
            state[i] = READING;
            reading++;
            queued++;
        }
        __atomic_store_n(u.sq_tail, u.tail, __ATOMIC_RELEASE);
        if (syscall(__NR_io_uring_enter, u.fd, queued, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0 && errno != EINTR)
            die("io_uring_enter");
        g_calls++;
        queued = 0;
        int read_now = 0;
        unsigned head = *u.cq_head, tail = __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *c = &u.cqes[head & *u.cq_mask];
            int slot = (int)(c->user_data & 0xffffffffu);
            if (c->user_data >> 32) {
                state[slot] = FREE;
                if (c->res > 0) g_frames++;
                else if (c->res == -ENOBUFS || c->res == -EAGAIN) g_fail++;
                else { errno = -c->res; die("io_uring write"); }
                continue;
            }
            reading--;
            if (c->res > 0) {
                /* Completion order is the order the frames left the TAP's queue: write in it. */
                stamp(bufs[slot]);
                uring_prep(&u, IORING_OP_WRITE, b, bufs[slot], (unsigned)c->res, (1ULL << 32) | (unsigned)slot);
                state[slot] = WRITING;
                queued++;
                read_now++;
            } else if (c->res == -EAGAIN || c->res == -EINTR) {
                state[slot] = FREE;
            } else {
                errno = -c->res;
                die("io_uring read");
            }
        }
        __atomic_store_n(u.cq_head, head, __ATOMIC_RELEASE);
        target = read_now * 2 > BATCH ? BATCH : (read_now < 1 ? 1 : read_now * 2);
        if (tick()) return;
    }
}

/* ---- the source ------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;

static void on_stop(int sig) {
    (void)sig;
    g_stop = 1;
}

static int source(const char *dev, int size, double seconds, double rate) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket AF_PACKET");
    set_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
    bind_ll(fd, dev, 0);
    static uint8_t frame[BUF];
    static const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    frame[12] = ETHERTYPE >> 8;
    frame[13] = ETHERTYPE & 0xff;
    struct iovec iov = {.iov_base = frame, .iov_len = (size_t)size};
    struct mmsghdr m[BATCH];
    memset(m, 0, sizeof m);
    for (int i = 0; i < BATCH; i++) {
        m[i].msg_hdr.msg_iov = &iov;
        m[i].msg_hdr.msg_iovlen = 1;
    }
    /* SIGINT ends the run early (the forwarder is done) and still reports. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    uint64_t sent = 0, refused = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now(), t = t0;
    const char *stop = "time";  /* why the source stopped: time, signal or device gone */
    uint64_t k = 0;
    while ((t = now()) - t0 < seconds && !g_stop) {
        int s;
        if (rate > 0) {
            /* Paced: one frame at its time, stamped just before it goes (sleep to an absolute time,
             * so a late wake-up sends a short burst rather than drifting). */
            double due = t0 + (double)k++ / rate;
            struct timespec ts = {.tv_sec = (time_t)due, .tv_nsec = (long)((due - (double)(time_t)due) * 1e9)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            double at = now();
            memcpy(frame + 14, &at, sizeof at);
            s = sendmmsg(fd, m, 1, 0);
        } else {
            s = sendmmsg(fd, m, BATCH, 0);
        }
        if (s >= 0) {
            sent += (uint64_t)s;
        } else if (is_drop(errno)) {
            /* The device's queue is full: the forwarder is behind, as intended. Wait a little rather
             * than spin, so this process's CPU per frame sent stays the cost of sending. */
            refused++;
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 20000};
            nanosleep(&pause, NULL);
        } else if (errno == ENXIO || errno == ENODEV || errno == ENETDOWN) {
            stop = "device gone"; /* the forwarder finished and took its TAP with it */
            break;
        } else if (errno != EINTR) {
            die("sendmmsg");
        }
    }
    if (g_stop) stop = "signal";
    getrusage(RUSAGE_SELF, &r1);
    printf("sent=%llu refused=%llu seconds=%.6f cpu_s=%.6f stop=%s\n", (unsigned long long)sent,
           (unsigned long long)refused, t - t0, cpu_s(&r1) - cpu_s(&r0), stop);
    return 0;
}

/* The floor under every per-call method: one trivial system call's round trip on this kernel
 * (entry, mitigations, exit), median of 5 runs of 200,000. */
static int null_syscall(void) {
    double best[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < 200000; i++) syscall(SYS_getppid);
        best[r] = (now() - t0) / 200000;
    }
    for (int i = 1; i < 5; i++)
        for (int j = i; j > 0 && best[j - 1] > best[j]; j--) { double t = best[j]; best[j] = best[j - 1]; best[j - 1] = t; }
    printf("syscall_ns=%.1f min_ns=%.1f max_ns=%.1f\n", best[2] * 1e9, best[0] * 1e9, best[4] * 1e9);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 7 && strcmp(argv[1], "src") == 0) {
        pin(atoi(argv[5]));
        /* Nice -10: on a shared machine the source keeps most of its core (so the forwarder is fed)
         * without starving everyone else there the way a real-time source would. */
        if (setpriority(PRIO_PROCESS, 0, -10) != 0) die("setpriority");
        int size = atoi(argv[3]);
        if (size < 60 || size > 1514) {
            fprintf(stderr, "engine_io: frame size %d outside 60..1514\n", size);
            return 2;
        }
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* paced sends on time, not 50 us late */
        return source(argv[2], size, atof(argv[4]), atof(argv[6]));
    }
    if (argc == 3 && strcmp(argv[1], "syscall") == 0) {
        pin(atoi(argv[2]));
        return null_syscall();
    }
    if (argc == 10 && strcmp(argv[1], "fwd") == 0) {
        const char *m = argv[2];
        g_sink = argv[5];
        g_warmup = atof(argv[6]);
        g_window = atof(argv[7]);
        pin(atoi(argv[8]));
        g_stamp = atoi(argv[9]);
        realtime();
        if (strcmp(m, "tap") == 0) fwd_tap(argv[3], argv[4]);
        else if (strcmp(m, "pkt") == 0) fwd_pkt(argv[3], argv[4]);
        else if (strcmp(m, "mmsg") == 0) fwd_mmsg(argv[3], argv[4]);
        else if (strcmp(m, "ring") == 0) fwd_ring(argv[3], argv[4]);
        else if (strcmp(m, "uring") == 0) fwd_uring(argv[3], argv[4]);
        else {
            fprintf(stderr, "engine_io: unknown method %s\n", m);
            return 2;
        }
        return 0;
    }
    fprintf(stderr, "usage: engine_io src IFACE SIZE SECONDS CPU RATE | fwd METHOD IN OUT SINK WARMUP_S WINDOW_S CPU"
                    " STAMP | syscall CPU\n");
    return 2;
}
