import { useEffect, useId, useRef, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

/** Open modals; while there is one, the app behind is hidden from the accessibility tree. */
let openModals = 0;

function hideApp(hidden: boolean): void {
  const root = document.getElementById('root');
  if (hidden) root?.setAttribute('aria-hidden', 'true');
  else root?.removeAttribute('aria-hidden');
}

/**
 * A modal dialog on the native <dialog> (focus kept inside, the page behind inert, Escape closes).
 * Named by its title, so tests and screen readers find it as role=dialog with that name. It is
 * rendered beside the app (a portal) and the app is marked aria-hidden meanwhile, so "Cancel" in a
 * dialog is the one Cancel there is, not also the "Cancel event" of the page behind.
 */
export function Modal({
  title,
  onClose,
  children,
  className,
  tone,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  className?: string;
  tone?: 'danger';
}): ReactNode {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (!dialog.open) dialog.showModal();
    openModals++;
    hideApp(true);
    const cancel = (e: Event): void => {
      // Escape: close through React so the state follows.
      e.preventDefault();
      closeRef.current();
    };
    dialog.addEventListener('cancel', cancel);
    return () => {
      dialog.removeEventListener('cancel', cancel);
      if (dialog.open) dialog.close();
      openModals--;
      if (openModals === 0) hideApp(false);
    };
  }, []);

  return createPortal(
    <dialog ref={ref} className={`modal ${tone === 'danger' ? 'modal-danger' : ''} ${className ?? ''}`} aria-labelledby={titleId}>
      <header className="modal-head">
        <h2 id={titleId}>{title}</h2>
      </header>
      <div className="modal-body">{children}</div>
    </dialog>,
    document.body,
  );
}
