%%% supervision_bench: the BEAM (Erlang/OTP) side of the trouper supervision
%%% benchmarks.
%%%
%%% Same conventions as actors_bench.erl: each invocation runs ONE
%%% measurement and prints one JSON object per line on stdout (the format
%%% and the shared helpers are in bench_util.erl). Anything else
%%% (diagnostics, errors) goes to stderr.
%%%
%%% Build and run (this is exactly what run_beam_supervision.sh does, via
%%% run_module.sh):
%%%
%%%   D=$(mktemp -d)
%%%   erlc -o "$D" benchmarks/beam/bench_util.erl benchmarks/beam/supervision_bench.erl
%%%   erl -noshell -noinput +S 2:2 +P 4000000 -pa "$D" \
%%%       -run supervision_bench main <bench> <n> -s init stop
%%%
%%% Benchmarks (<bench> <n>), all with the stock OTP `supervisor` module:
%%%
%%%   sup_children N  a simple_one_for_one supervisor (OTP's equivalent of
%%%                   Elixir's DynamicSupervisor) whose child is a minimal
%%%                   gen_server (init/1 returns {ok, State}, no trap_exit),
%%%                   restart permanent, default worker shutdown (5000 ms:
%%%                   on shutdown the supervisor sends each child the exit
%%%                   signal `shutdown` and waits for it to die). The
%%%                   benchmark process starts N children one after another
%%%                   with supervisor:start_child/2.
%%%       start_rate            1/s  N / wall time of the N start_child
%%%                                  calls (each returns once the child's
%%%                                  init/1 has returned, so every child is
%%%                                  running when the last call returns).
%%%       bytes_per_child       B    OS RSS (VmRSS) delta / N; the baseline
%%%                                  is taken with the (empty) supervisor
%%%                                  already running, so the figure
%%%                                  includes the supervisor's bookkeeping
%%%                                  for each child, not the supervisor.
%%%       erlang_bytes_per_child B   erlang:memory(total) delta / N
%%%                                  (BEAM only, like actors_bench's
%%%                                  erlang_bytes_per_process).
%%%       shutdown_s            s    time for the supervisor to stop all N
%%%                                  children: exit(Sup, shutdown) from its
%%%                                  parent until the supervisor's 'DOWN'
%%%                                  (it dies only after all N children
%%%                                  are dead).
%%%   restart N       a one_for_one supervisor (intensity 1000000000 per
%%%                   1 s, i.e. never gives up) with one permanent
%%%                   gen_server child whose init/1 sends {started, self()}
%%%                   to the benchmark process. N times: exit(Child, kill),
%%%                   then wait for the replacement's `started` message
%%%                   (whose pid is the next one to kill).
%%%       restarts_per_s        1/s  N / wall time from the first exit/2
%%%                                  to the last `started`.
%%%       restart_latency_us    us   median over the N cycles of the time
%%%                                  from exit/2 to receiving `started`
%%%                                  (mean of the two middle values when N
%%%                                  is even, like Python's
%%%                                  statistics.median).
%%%       restart_latency_p99_us us  99th percentile of the same
%%%                                  (nearest rank: the ceil(0.99 N)-th
%%%                                  smallest).
%%%
%%% Logging. OTP's supervisor logs an error report (SUPERVISOR REPORT,
%%% child_terminated) for every crash of a child, and `erl -noshell` would
%%% print it on stdout. We always remove OTP's default log handler (so
%%% stdout carries nothing but the JSON lines) and, by default, set the
%%% logger level to `none`, so the benchmarks measure supervision itself,
%%% not report formatting. With SUPERVISION_BENCH_LOG=1 in the environment
%%% the reports are kept and printed on stderr instead (this makes
%%% `restart` much slower: each restart then formats and writes a report;
%%% under that load logger's overload protection drops some of them).
%%%
%%% Two properties of OTP's (25) supervisor show up in the numbers:
%%%  * restart: the supervisor keeps the timestamps of the restarts of the
%%%    last `period` (whole) seconds in a list that it copies and measures
%%%    on every restart, so with a huge intensity each restart costs time
%%%    proportional to the number of recent restarts: the latency grows
%%%    over the first second or two of a long run, then levels off.
%%%  * sup_children shutdown: the supervisor first sends `shutdown` to (and
%%%    monitors) every child, then collects the 'DOWN' and 'EXIT' messages;
%%%    with N children up to 2N messages sit in its (on-heap) mailbox
%%%    meanwhile, and large shutdowns cost more than linearly (measured
%%%    here: ~13 us per child at N = 100k, ~38 us at N = 1M).
%%% Both are stock behaviour; we do not tune around them.
%%%
%%% All wall times use erlang:monotonic_time/0.

-module(supervision_bench).

%% This module is the callback module of both the supervisors (init/1 with
%% a {supervisor, _} argument) and the worker gen_servers (init/1 with any
%% other argument). We declare only the gen_server behaviour because the
%% two behaviours' init/1 callbacks would otherwise be reported as
%% conflicting.
-behaviour(gen_server).

%% Entry point.
-export([main/1, run/2]).
%% Child start functions (called by the supervisors via their child specs).
-export([start_idle_worker/0, start_reporting_worker/1]).
%% supervisor and gen_server callbacks.
-export([init/1, handle_call/3, handle_cast/2]).

%% ---------------------------------------------------------------------------
%% Entry point
%% ---------------------------------------------------------------------------

%% Called by `-run supervision_bench main <bench> <n>`; bench_util:main/2 runs
%% run/2 in a fresh process, prints the metrics and halts.
main(Args) ->
    configure_logger(),
    bench_util:main(?MODULE, Args).

%% Each benchmark returns a list of {Metric, Value, Unit}.
run(sup_children, N) -> bench_sup_children(N);
run(restart, N)      -> bench_restart(N);
run(Other, _N)       -> error({unknown_bench, Other}).

%% See "Logging" above.
configure_logger() ->
    ok = logger:remove_handler(default),
    case os:getenv("SUPERVISION_BENCH_LOG") of
        V when V =:= false; V =:= ""; V =:= "0" ->
            ok = logger:set_primary_config(level, none);
        _ ->
            ok = logger:add_handler(stderr, logger_std_h,
                                    #{config => #{type => standard_error}})
    end.

%% ---------------------------------------------------------------------------
%% Supervisor and worker callbacks
%% ---------------------------------------------------------------------------

%% sup_children's supervisor: simple_one_for_one, children started on
%% demand with start_idle_worker(). The intensity (default 1 per 5 s) does
%% not matter: no child crashes in this benchmark.
init({supervisor, dynamic}) ->
    Flags = #{strategy => simple_one_for_one},
    Child = #{id => idle_worker,
              start => {?MODULE, start_idle_worker, []},
              restart => permanent,
              shutdown => 5000,            % the default for workers
              type => worker},
    {ok, {Flags, [Child]}};
%% restart's supervisor: one_for_one with a single permanent child that
%% reports to Parent every time it starts. The huge intensity means the
%% supervisor never gives up.
init({supervisor, restart, Parent}) ->
    Flags = #{strategy => one_for_one, intensity => 1000000000, period => 1},
    Child = #{id => reporting_worker,
              start => {?MODULE, start_reporting_worker, [Parent]},
              restart => permanent,
              shutdown => 5000,
              type => worker},
    {ok, {Flags, [Child]}};
%% The workers: minimal gen_servers (no trap_exit, no timeouts).
init(idle) ->
    {ok, nostate};
init({report_to, Parent}) ->
    Parent ! {started, self()},
    {ok, nostate}.

start_idle_worker() ->
    gen_server:start_link(?MODULE, idle, []).

start_reporting_worker(Parent) ->
    gen_server:start_link(?MODULE, {report_to, Parent}, []).

%% The workers receive no requests in these benchmarks.
handle_call(_Request, _From, S) -> {reply, ok, S}.
handle_cast(_Msg, S) -> {noreply, S}.

%% ---------------------------------------------------------------------------
%% sup_children
%% ---------------------------------------------------------------------------

bench_sup_children(N) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {supervisor, dynamic}),

    %% Baseline with the empty supervisor running, after a GC of this
    %% process so its own garbage does not count.
    bench_util:wait_run_queues_empty(),
    garbage_collect(),
    Rss0 = bench_util:rss_bytes(),
    Mem0 = erlang:memory(total),

    %% Timed: N sequential start_child calls. We do not keep the pids: the
    %% supervisor holds them (that is the point of supervising).
    T0 = bench_util:now_native(),
    ok = start_children(N, Sup),
    T1 = bench_util:now_native(),

    %% Untimed: let the schedulers go idle, then measure.
    bench_util:wait_run_queues_empty(),
    garbage_collect(),
    Rss1 = bench_util:rss_bytes(),
    Mem1 = erlang:memory(total),
    N = proplists:get_value(active, supervisor:count_children(Sup)),

    %% Timed: shut the supervisor down the way its parent (us) would. We
    %% unlink first so its exit does not take us down, and monitor it to
    %% learn when it is gone. Because the signal comes from its parent,
    %% the supervisor terminates: it sends `shutdown` to every child,
    %% waits for all of them to die, then exits.
    unlink(Sup),
    MRef = monitor(process, Sup),
    T2 = bench_util:now_native(),
    exit(Sup, shutdown),
    receive {'DOWN', MRef, process, Sup, shutdown} -> ok end,
    T3 = bench_util:now_native(),

    [{start_rate, N / bench_util:secs(T1 - T0), "1/s"},
     {bytes_per_child, (Rss1 - Rss0) / N, "B"},
     {erlang_bytes_per_child, (Mem1 - Mem0) / N, "B"},
     {shutdown_s, bench_util:secs(T3 - T2), "s"}].

start_children(0, _Sup) -> ok;
start_children(K, Sup) ->
    {ok, _Pid} = supervisor:start_child(Sup, []),
    start_children(K - 1, Sup).

%% ---------------------------------------------------------------------------
%% restart
%% ---------------------------------------------------------------------------

bench_restart(N) ->
    {ok, Sup} = supervisor:start_link(?MODULE, {supervisor, restart, self()}),
    %% The first child announced itself while the supervisor started.
    First = receive {started, P} -> P end,

    %% Timed: N kill/restart cycles, each one timed on its own too.
    T0 = bench_util:now_native(),
    {Latencies, _Last} = restart_n(N, First, []),
    T1 = bench_util:now_native(),

    unlink(Sup),
    exit(Sup, kill),

    Sorted = lists:sort(Latencies),
    [{restarts_per_s, N / bench_util:secs(T1 - T0), "1/s"},
     {restart_latency_us, bench_util:micros(median(Sorted)), "us"},
     {restart_latency_p99_us, bench_util:micros(nearest_rank(0.99, Sorted)), "us"}].

%% Kill the current child and wait for its replacement to report from its
%% init/1; K times. Returns the K latencies (native time units) and the
%% last child's pid.
restart_n(0, Child, Acc) -> {Acc, Child};
restart_n(K, Child, Acc) ->
    T0 = bench_util:now_native(),
    exit(Child, kill),
    receive
        {started, Next} ->
            T1 = bench_util:now_native(),
            restart_n(K - 1, Next, [T1 - T0 | Acc])
    end.

%% Median of a sorted, non-empty list (mean of the two middle values when
%% its length is even).
median(Sorted) ->
    Len = length(Sorted),
    case Len rem 2 of
        1 -> lists:nth(Len div 2 + 1, Sorted);
        0 -> (lists:nth(Len div 2, Sorted) + lists:nth(Len div 2 + 1, Sorted)) / 2
    end.

%% Nearest-rank percentile of a sorted, non-empty list: the
%% ceil(P * Len)-th smallest value (at least the first).
nearest_rank(P, Sorted) ->
    Len = length(Sorted),
    Rank = max(1, ceil(P * Len)),
    lists:nth(Rank, Sorted).
