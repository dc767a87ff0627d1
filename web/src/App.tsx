import { Suspense, lazy } from 'react';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Shell } from './components/Shell';
import { ApiError, loginPath, setUnauthenticatedHandler } from './api/client';

const Overview = lazy(() => import('./pages/Overview'));
const Findings = lazy(() => import('./pages/Findings'));
const FindingDetail = lazy(() => import('./pages/FindingDetail'));
const Events = lazy(() => import('./pages/Events'));
const EventDetail = lazy(() => import('./pages/EventDetail'));
const Explore = lazy(() => import('./pages/Explore'));
const Rules = lazy(() => import('./pages/Rules'));
const Iam = lazy(() => import('./pages/Iam'));
const IamDetail = lazy(() => import('./pages/IamDetail'));
const Compliance = lazy(() => import('./pages/Compliance'));
const ComplianceControl = lazy(() => import('./pages/ComplianceControl'));
const Pipelines = lazy(() => import('./pages/Pipelines'));
const PipelineDetail = lazy(() => import('./pages/PipelineDetail'));
const NotFound = lazy(() => import('./pages/NotFound'));
const Login = lazy(() => import('./pages/Login'));
const Users = lazy(() => import('./pages/Users'));
const ApiKeys = lazy(() => import('./pages/ApiKeys'));
const AuditLog = lazy(() => import('./pages/AuditLog'));
const Alerts = lazy(() => import('./pages/Alerts'));

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      refetchOnWindowFocus: false,
      // 4xx answers are final; retry network and 5xx once.
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 1,
    },
  },
});

const router = createBrowserRouter([
  {
    path: '/login',
    element: (
      <Suspense fallback={null}>
        <Login />
      </Suspense>
    ),
  },
  {
    element: <Shell />,
    children: [
      { path: '/', element: <Overview /> },
      { path: '/findings', element: <Findings /> },
      { path: '/findings/:id', element: <FindingDetail /> },
      { path: '/events', element: <Events /> },
      { path: '/events/:id', element: <EventDetail /> },
      { path: '/explore', element: <Explore /> },
      { path: '/rules', element: <Rules /> },
      { path: '/iam', element: <Iam /> },
      { path: '/iam/:id', element: <IamDetail /> },
      { path: '/compliance', element: <Compliance /> },
      { path: '/compliance/:framework/:control', element: <ComplianceControl /> },
      { path: '/pipelines', element: <Pipelines /> },
      { path: '/pipelines/:name', element: <PipelineDetail /> },
      { path: '/alerts', element: <Alerts /> },
      { path: '/alerts/:tab', element: <Alerts /> },
      { path: '/admin/users', element: <Users /> },
      { path: '/admin/api-keys', element: <ApiKeys /> },
      { path: '/admin/audit-log', element: <AuditLog /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

// A session that cannot be refreshed: sign in again, then come back here.
setUnauthenticatedHandler(() => {
  const loc = router.state.location;
  if (loc.pathname === '/login') return;
  void router.navigate(loginPath(loc), { replace: true });
});

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
