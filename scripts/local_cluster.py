"""The cluster file of the elastic timing scripts: WORKERS local workers training a workload on Fashion-MNIST
(synthetic when the data set is missing), batch 128, the default-like timeouts; `tail` adds sections."""

def local_cluster_yaml(workers, workload, steps, tail=""):
    return f"""cluster:
  coordinator: {{host: 127.0.0.1, port: 5555}}
  interface: 127.0.0.1
hosts:
  - {{address: 127.0.0.1, workers: {workers}}}
job:
  workload: {workload}
  data: {{dataset: fashion-mnist, path: /usr/share/datasets/fashion-mnist, synthetic_fallback: true}}
  batch_size: 128
  steps: {steps}
timeouts: {{heartbeat_interval_s: 0.5, peer_deadline_s: 5, rendezvous_timeout_s: 60}}
{tail}"""
