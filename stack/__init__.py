"""The live stack on one machine: Prometheus, Alertmanager, a webhook sink and the runtime as
child processes on loopback, for the fault injector, `make demo` and the end-to-end tests."""
