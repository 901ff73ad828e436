import { describe, expect, it } from 'vitest';
import { OperatorError, toOperatorError } from '../../../console/renderer/api/operator-error.js';

describe('toOperatorError', () => {
  it('keeps the code an Error carries (browser mode, or a bridge that kept it)', () => {
    const err = Object.assign(new Error('no gateway gw-9'), { code: 'OP_NOT_FOUND' });
    expect(toOperatorError(err)).toMatchObject({ code: 'OP_NOT_FOUND', message: 'no gateway gw-9' });
  });

  it('reads the code from the message prefix the preload writes, since contextBridge drops the code', () => {
    expect(toOperatorError(new Error('OP_BAD_REQUEST: startShed: selector.maxPriority: must be at most 99'))).toMatchObject({
      code: 'OP_BAD_REQUEST',
      message: 'startShed: selector.maxPriority: must be at most 99',
    });
  });

  it('anything else is UI_ERROR with its text', () => {
    expect(toOperatorError(new Error('socket hang up'))).toMatchObject({ code: 'UI_ERROR', message: 'socket hang up' });
    expect(toOperatorError('weird')).toMatchObject({ code: 'UI_ERROR', message: 'weird' });
    const e = new OperatorError('OP_NO_CA', 'no CA');
    expect(toOperatorError(e)).toBe(e);
  });
});
