%%% bench_util: what every BEAM benchmark program shares.
%%%
%%% Each program (actors_bench, supervision_bench, pubsub_bench) exports
%%% run(Bench, N) -> [{Metric, Value, Unit}] and lets main/2 here run it:
%%% in a fresh process (clean heap and mailbox, not the boot process), then
%%% one JSON object per metric on stdout, the protocol of benchmarks/run.py:
%%%
%%%   {"impl": "beam", "bench": "<bench>", "n": <n>, "metric": "<metric>",
%%%    "value": <number>, "unit": "<unit>"}
%%%
%%% (on a single line), then halt with status 0 (1 when the run crashed,
%%% 2 on bad arguments). Diagnostics go to stderr. `impl` is "beam" unless
%%% the environment says otherwise (BEAM_BENCH_IMPL), so one program can
%%% stand for several implementations (pubsub_bench: beam-pg, beam-registry).
%%%
%%% All wall times use erlang:monotonic_time/0.

-module(bench_util).

-export([main/2, emit/5, now_native/0, secs/1, micros/1, rss_bytes/0,
         wait_run_queues_empty/0, wait_process_count/1, spawn_n/2,
         counter_tick/4]).

%% ---------------------------------------------------------------------------
%% Entry point
%% ---------------------------------------------------------------------------

%% Called from Module:main/1 with `-run Module main <bench> <n>`'s arguments.
main(Module, [BenchStr, NStr]) ->
    Self = self(),
    {Pid, MRef} = spawn_monitor(fun() ->
        Bench = list_to_atom(BenchStr),
        N = list_to_integer(NStr),
        true = N > 0,
        Metrics = Module:run(Bench, N),
        Self ! {self(), {ok, Bench, N, Metrics}}
    end),
    receive
        {Pid, {ok, Bench, N, Metrics}} ->
            [emit(Bench, N, M, V, U) || {M, V, U} <- Metrics],
            erlang:halt(0);
        {'DOWN', MRef, process, Pid, Reason} ->
            io:format(standard_error, "~s ~s ~s failed: ~p~n",
                      [Module, BenchStr, NStr, Reason]),
            erlang:halt(1)
    end;
main(Module, Args) ->
    io:format(standard_error,
              "usage: -run ~s main <bench> <n>  (got ~p)~n", [Module, Args]),
    erlang:halt(2).

%% ---------------------------------------------------------------------------
%% Output
%% ---------------------------------------------------------------------------

%% One JSON line on stdout. A program may also call this itself, for a
%% metric known before its run ends: a run stopped by the runner's time
%% limit then keeps it.
emit(Bench, N, Metric, Value, Unit) ->
    io:format("{\"impl\": \"~s\", \"bench\": \"~s\", \"n\": ~b, "
              "\"metric\": \"~s\", \"value\": ~s, \"unit\": \"~s\"}~n",
              [impl(), Bench, N, Metric, json_number(Value), Unit]).

impl() ->
    case os:getenv("BEAM_BENCH_IMPL") of
        V when V =:= false; V =:= "" -> "beam";
        V -> V
    end.

json_number(V) when is_integer(V) -> integer_to_list(V);
json_number(V) when is_float(V) -> float_to_list(V, [short]).

%% ---------------------------------------------------------------------------
%% Time
%% ---------------------------------------------------------------------------

now_native() -> erlang:monotonic_time().

secs(NativeDelta) ->
    erlang:convert_time_unit(NativeDelta, native, nanosecond) / 1.0e9.

%% A native-unit duration (possibly a float, from a median) in microseconds.
micros(NativeDelta) ->
    NsPerUnit = erlang:convert_time_unit(1, second, nanosecond)
                / erlang:convert_time_unit(1, second, native),
    NativeDelta * NsPerUnit / 1.0e3.

%% ---------------------------------------------------------------------------
%% Memory and the scheduler
%% ---------------------------------------------------------------------------

%% Resident set size of this emulator (OS process), in bytes, from
%% /proc/<pid>/status.
rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/" ++ os:getpid() ++ "/status"),
    [Line] = [L || L <- binary:split(Bin, <<"\n">>, [global]),
                   binary:match(L, <<"VmRSS:">>) =:= {0, 6}],
    [_, Kb, <<"kB">>] = binary:split(Line, [<<" ">>, <<"\t">>],
                                     [global, trim_all]),
    binary_to_integer(Kb) * 1024.

%% Poll until no scheduler has runnable work (other than this process,
%% which is running and so not queued).
wait_run_queues_empty() ->
    case erlang:statistics(total_run_queue_lengths_all) of
        0 -> ok;
        _ -> receive after 1 -> ok end, wait_run_queues_empty()
    end.

%% Poll until at most Base processes are alive. Between polls we only
%% erlang:yield/0 (go to the back of the run queue) rather than sleep, so
%% small teardowns are not rounded up to the 1 ms timer granularity, while
%% the dying processes still get the schedulers.
wait_process_count(Base) ->
    case erlang:system_info(process_count) =< Base of
        true -> ok;
        false -> erlang:yield(), wait_process_count(Base)
    end.

%% ---------------------------------------------------------------------------
%% Processes
%% ---------------------------------------------------------------------------

%% Spawn K processes running Body; their pids, last spawned first.
spawn_n(K, Body) -> spawn_n(K, Body, []).

spawn_n(0, _Body, Acc) -> Acc;
spawn_n(K, Body, Acc) -> spawn_n(K - 1, Body, [spawn(Body) | Acc]).

%% Count one event in slot Ix of the atomics Ctr; the event that brings the
%% count to a multiple of Every, or to Total, tells Parent {Tag, Count}. The
%% coordinator learns that the last of many processes got somewhere without
%% one acknowledgement per process.
counter_tick(Ctr, Ix, {Every, Total}, {Parent, Tag}) ->
    Count = atomics:add_get(Ctr, Ix, 1),
    case Count rem Every =:= 0 orelse Count =:= Total of
        true -> Parent ! {Tag, Count};
        false -> ok
    end.
