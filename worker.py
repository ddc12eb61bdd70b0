"""Entry point: `python worker.py [--task-queues monitoring,comments] [--concurrency N]`."""

from yourmoment.worker_main import main

if __name__ == "__main__":
    main()
