import { lazy } from 'react';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Shell } from './components/Shell';
import { ApiError } from './api/client';

const Overview = lazy(() => import('./pages/Overview'));
const Findings = lazy(() => import('./pages/Findings'));
const FindingDetail = lazy(() => import('./pages/FindingDetail'));
const Events = lazy(() => import('./pages/Events'));
const EventDetail = lazy(() => import('./pages/EventDetail'));
const Explore = lazy(() => import('./pages/Explore'));
const Rules = lazy(() => import('./pages/Rules'));
const Iam = lazy(() => import('./pages/Iam'));
const IamDetail = lazy(() => import('./pages/IamDetail'));
const Pipelines = lazy(() => import('./pages/Pipelines'));
const PipelineDetail = lazy(() => import('./pages/PipelineDetail'));
const NotFound = lazy(() => import('./pages/NotFound'));

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
      { path: '/pipelines', element: <Pipelines /> },
      { path: '/pipelines/:name', element: <PipelineDetail /> },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  );
}
