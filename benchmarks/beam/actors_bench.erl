%%% actors_bench: the BEAM (Erlang/OTP) side of the trouper actor benchmarks.
%%%
%%% Each invocation runs ONE measurement and prints one JSON object per line
%%% on stdout (bench_util.erl has the format and the shared helpers);
%%% anything else (diagnostics, errors) goes to stderr.
%%%
%%% Build and run (this is exactly what run_beam.sh does, via run_module.sh):
%%%
%%%   D=$(mktemp -d)
%%%   erlc -o "$D" benchmarks/beam/bench_util.erl benchmarks/beam/actors_bench.erl
%%%   erl -noshell -noinput +S 2:2 +P 4000000 -pa "$D" \
%%%       -run actors_bench main <bench> <n> -s init stop
%%%
%%% +S 2:2       two schedulers (the benchmark machine has 2 cores).
%%% +P 4000000   process table big enough for 2M benchmark processes
%%%              (the default limit is 262144).
%%% main/1 calls erlang:halt/1 itself when it is done (exit status 0 on
%%% success, 1 on error), so "-s init stop" is only a safety net.
%%%
%%% Benchmarks (<bench> <n>):
%%%
%%%   spawn N             spawn N processes idling in a plain receive loop.
%%%   spawn_hibernated N  same, but each process waits in erlang:hibernate/3.
%%%       spawn_rate               1/s  N / wall time from the first spawn
%%%                                     until all N processes have started
%%%                                     running (each one has reached its
%%%                                     receive / hibernate call).
%%%       bytes_per_process        B    OS RSS (VmRSS) delta / N.
%%%       erlang_bytes_per_process B    erlang:memory(total) delta / N.
%%%       teardown_s               s    time to exit(P, kill) all N and wait
%%%                                     until they are all gone.
%%%   fanout N            spawn N idle processes (untimed), then time one
%%%                       message to each until every one has handled it.
%%%       fanout_s                 s
%%%   pingpong N          two processes bounce a message N round trips.
%%%       round_trips_per_s        1/s
%%%   call N              N sequential gen_server:call/2 to a minimal server.
%%%       calls_per_s              1/s
%%%   send_1to1 N         one sender, one counting receiver, N messages.
%%%       msgs_per_s               1/s
%%%   send_nto1 N         100 senders, one counting receiver, N messages in
%%%                       total (N div 100 each, the remainder spread over
%%%                       the first senders).
%%%       msgs_per_s               1/s
%%%
%%% All wall times use erlang:monotonic_time/0. Every timed section starts
%%% before the first message/spawn and stops when the coordinator receives
%%% the notification sent by the LAST handler to run (detected with an
%%% atomics counter, so no per-message acknowledgements are sent to the
%%% coordinator).

-module(actors_bench).
-behaviour(gen_server).

%% Entry point.
-export([main/1, run/2]).
%% Used via erlang:hibernate/3, so must be exported.
-export([hibernated_loop/0]).
%% gen_server callbacks (the "call" benchmark's server is this module).
-export([init/1, handle_call/3, handle_cast/2]).

%% Number of senders in send_nto1.
-define(NTO1_SENDERS, 100).

%% ---------------------------------------------------------------------------
%% Entry point
%% ---------------------------------------------------------------------------

%% Called by `-run actors_bench main <bench> <n>`; bench_util:main/2 runs
%% run/2 in a fresh process, prints the metrics and halts.
main(Args) ->
    bench_util:main(?MODULE, Args).

%% Each benchmark returns a list of {Metric, Value, Unit}.
run(spawn, N)            -> bench_spawn(N, plain);
run(spawn_hibernated, N) -> bench_spawn(N, hibernated);
run(fanout, N)           -> bench_fanout(N);
run(pingpong, N)         -> bench_pingpong(N);
run(call, N)             -> bench_call(N);
run(send_1to1, N)        -> bench_send(N, 1);
run(send_nto1, N)        -> bench_send(N, ?NTO1_SENDERS);
run(Other, _N)           -> error({unknown_bench, Other}).

%% ---------------------------------------------------------------------------
%% spawn / spawn_hibernated
%% ---------------------------------------------------------------------------

bench_spawn(N, Mode) ->
    Parent = self(),
    Started = atomics:new(1, []),
    Body = case Mode of
               plain ->
                   fun() -> started(Started, N, Parent), idle_loop() end;
               hibernated ->
                   fun() ->
                       started(Started, N, Parent),
                       erlang:hibernate(?MODULE, hibernated_loop, [])
                   end
           end,

    %% Baseline, after a GC of this process so its own garbage does not
    %% count. BaseCount is used by the teardown wait below.
    garbage_collect(),
    BaseCount = erlang:system_info(process_count),
    Rss0 = bench_util:rss_bytes(),
    Mem0 = erlang:memory(total),

    %% Timed: spawn all N, then wait for the last one to start running.
    %% We keep the pids in a list (16 B per process on our heap) because we
    %% need them for the teardown; the Python side likewise holds a
    %% reference per actor.
    T0 = bench_util:now_native(),
    Pids = bench_util:spawn_n(N, Body),
    receive all_started -> ok end,
    T1 = bench_util:now_native(),

    %% Untimed: let the schedulers go idle (for spawn_hibernated the last
    %% few processes may still be inside erlang:hibernate/3), then measure.
    bench_util:wait_run_queues_empty(),
    garbage_collect(),
    Rss1 = bench_util:rss_bytes(),
    Mem1 = erlang:memory(total),

    %% Teardown. We deliberately do NOT monitor or link the N processes:
    %% a monitor/link costs memory in both processes and would inflate the
    %% per-process figure above, and N 'DOWN' messages would add N
    %% receives to the measured time. Instead we send every process an
    %% untrappable kill signal and poll the VM's live process count until
    %% it is back at the baseline taken before spawning (a process leaves
    %% the process table only once its exit is fully done).
    T2 = bench_util:now_native(),
    lists:foreach(fun(P) -> exit(P, kill) end, Pids),
    bench_util:wait_process_count(BaseCount),
    T3 = bench_util:now_native(),

    [{spawn_rate, N / bench_util:secs(T1 - T0), "1/s"},
     {bytes_per_process, (Rss1 - Rss0) / N, "B"},
     {erlang_bytes_per_process, (Mem1 - Mem0) / N, "B"},
     {teardown_s, bench_util:secs(T3 - T2), "s"}].

%% Each spawned process bumps the shared counter once it runs; the one
%% that brings it to N tells the coordinator.
started(Counter, N, Parent) ->
    case atomics:add_get(Counter, 1, 1) of
        N -> Parent ! all_started;
        _ -> ok
    end.

%% A plain idle actor: wait for a message, ignore it, wait again.
idle_loop() ->
    receive _ -> idle_loop() end.

%% A hibernating idle actor: woken by a message, it handles it and goes
%% back to hibernation (heap shrunk to the minimum, stack discarded).
hibernated_loop() ->
    receive _ -> ok end,
    erlang:hibernate(?MODULE, hibernated_loop, []).

%% ---------------------------------------------------------------------------
%% fanout
%% ---------------------------------------------------------------------------

bench_fanout(N) ->
    Parent = self(),
    %% Index 1: processes started; index 2: messages handled.
    Ctr = atomics:new(2, []),
    Body = fun() ->
               started(Ctr, N, Parent),
               fanout_loop(Ctr, N, Parent)
           end,
    BaseCount = erlang:system_info(process_count),

    %% Untimed setup: all N processes exist and wait in receive.
    Pids = bench_util:spawn_n(N, Body),
    receive all_started -> ok end,
    bench_util:wait_run_queues_empty(),

    %% Timed: one message to each; the handler that brings the counter to
    %% N reports. The clock stops when that report arrives.
    T0 = bench_util:now_native(),
    lists:foreach(fun(P) -> P ! go end, Pids),
    receive all_handled -> ok end,
    T1 = bench_util:now_native(),

    lists:foreach(fun(P) -> exit(P, kill) end, Pids),
    bench_util:wait_process_count(BaseCount),
    [{fanout_s, bench_util:secs(T1 - T0), "s"}].

fanout_loop(Ctr, N, Parent) ->
    receive
        go ->
            case atomics:add_get(Ctr, 2, 1) of
                N -> Parent ! all_handled;
                _ -> ok
            end,
            fanout_loop(Ctr, N, Parent)
    end.

%% ---------------------------------------------------------------------------
%% pingpong
%% ---------------------------------------------------------------------------

%% The coordinator is the pinger: it sends {ping, self()} and waits for
%% pong, N times. One round trip = one ping + one pong.
bench_pingpong(N) ->
    Ponger = spawn_link(fun ponger/0),
    T0 = bench_util:now_native(),
    ping_n(N, Ponger),
    T1 = bench_util:now_native(),
    Ponger ! stop,
    [{round_trips_per_s, N / bench_util:secs(T1 - T0), "1/s"}].

ping_n(0, _Ponger) -> ok;
ping_n(K, Ponger) ->
    Ponger ! {ping, self()},
    receive pong -> ok end,
    ping_n(K - 1, Ponger).

ponger() ->
    receive
        {ping, From} -> From ! pong, ponger();
        stop -> ok
    end.

%% ---------------------------------------------------------------------------
%% call (gen_server)
%% ---------------------------------------------------------------------------

%% The coordinator makes N sequential gen_server:call/2 (default 5 s
%% timeout, as ordinary code would) to a minimal server.
bench_call(N) ->
    {ok, Server} = gen_server:start_link(?MODULE, [], []),
    T0 = bench_util:now_native(),
    call_n(N, Server),
    T1 = bench_util:now_native(),
    unlink(Server),
    exit(Server, kill),
    [{calls_per_s, N / bench_util:secs(T1 - T0), "1/s"}].

call_n(0, _Server) -> ok;
call_n(K, Server) ->
    pong = gen_server:call(Server, ping),
    call_n(K - 1, Server).

init([]) -> {ok, nostate}.
handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast(_Msg, S) -> {noreply, S}.

%% ---------------------------------------------------------------------------
%% send_1to1 / send_nto1
%% ---------------------------------------------------------------------------

%% S sender processes (spawned and parked before the clock starts) send
%% N messages in total to one receiver, which counts them and reports when
%% it has counted N. The clock runs from just before the coordinator
%% releases the senders until the receiver's report arrives.
bench_send(N, S) ->
    Parent = self(),
    Receiver = spawn_link(fun() -> count_loop(N, Parent) end),
    Shares = [N div S + (if I =< N rem S -> 1; true -> 0 end)
              || I <- lists:seq(1, S)],
    Senders = [spawn_link(fun() ->
                              receive go -> send_n(Share, Receiver) end
                          end)
               || Share <- Shares],
    T0 = bench_util:now_native(),
    lists:foreach(fun(P) -> P ! go end, Senders),
    receive counted -> ok end,
    T1 = bench_util:now_native(),
    [{msgs_per_s, N / bench_util:secs(T1 - T0), "1/s"}].

send_n(0, _To) -> ok;
send_n(K, To) -> To ! msg, send_n(K - 1, To).

count_loop(0, Parent) -> Parent ! counted;
count_loop(K, Parent) -> receive msg -> count_loop(K - 1, Parent) end.
