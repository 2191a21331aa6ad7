import { Module } from '@nestjs/common';
import { Revocations } from './revocations.js';
import { TokenVerifier } from './token-verifier.js';

/** Who a token says the user is (TokenVerifier), and which users were deleted since (Revocations). */
@Module({ providers: [TokenVerifier, Revocations], exports: [TokenVerifier, Revocations] })
export class AuthModule {}
