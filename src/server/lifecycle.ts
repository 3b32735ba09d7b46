/** Whether the process is shutting down: readiness fails first, so load balancers stop sending. */
export type Lifecycle = { draining: boolean }
